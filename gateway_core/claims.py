"""One gateway per port: claim the ports a run uses, so a second gateway refuses to start.

A claim is a Unix socket bound in Linux's abstract namespace (``\\0battery-gateway:<port>``): no file
to clean up, released by the kernel when the process ends however it ends, and refused with
EADDRINUSE while another process holds it. Instances of one process share a claim.
"""

from __future__ import annotations

import socket
import sys

from .errors import StartupError

PREFIX = "battery-gateway:"


class PortInUse(StartupError):
    """Another gateway process already uses this port."""


class Claims:
    """The ports this process has claimed; :meth:`release` gives them back."""

    def __init__(self) -> None:
        self._sockets: dict[str, socket.socket] = {}

    def claim(self, resource: str, owner: str) -> None:
        """Claim ``resource`` (e.g. ``serial:/dev/ttyUSB0``) for ``owner``; idempotent in one process.

        :raises PortInUse: another process holds it.
        """
        if resource in self._sockets or not sys.platform.startswith("linux"):
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        name = ("\0" + PREFIX + resource).encode()[:107]
        try:
            sock.bind(name)
        except OSError:
            sock.close()
            raise PortInUse(
                f"{owner}: {resource} is in use by another battery-gateway process; "
                "stop it first (systemctl stop battery-gateway) — two gateways would poll the same "
                "BMS and interleave their frames"
            ) from None
        self._sockets[resource] = sock

    def release(self) -> None:
        """Give every claim back."""
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
