"""One gateway per port: claim the ports a run uses, so a second gateway refuses to start.

A claim is a Unix socket bound in Linux's abstract namespace (``\\0battery-gateway:<port>``): no file
to clean up, released by the kernel when the process ends however it ends, and refused with
EADDRINUSE while another process holds it. Instances of one process share a claim.
"""

from __future__ import annotations

import socket
import sys
import threading

from .errors import StartupError

PREFIX = "battery-gateway:"


class PortInUse(StartupError):
    """Another gateway process already uses this port."""


#: The claims this process holds: resource -> (socket, how many Claims objects hold it).
_held: dict[str, tuple[socket.socket, int]] = {}
_lock = threading.Lock()


class Claims:
    """The ports one gateway claimed; :meth:`release` gives them back.

    Claims are per process: a second gateway built in the same process (tests, the demo) shares them,
    and a port is released when the last holder lets go.
    """

    def __init__(self) -> None:
        self._mine: set[str] = set()

    def claim(self, resource: str, owner: str) -> None:
        """Claim ``resource`` (e.g. ``serial:/dev/ttyUSB0``) for ``owner``; idempotent in one process.

        :raises PortInUse: another process holds it.
        """
        if resource in self._mine or not sys.platform.startswith("linux"):
            return
        with _lock:
            held = _held.get(resource)
            if held is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.bind(("\0" + PREFIX + resource).encode()[:107])
                except OSError:
                    sock.close()
                    raise PortInUse(
                        f"{owner}: {resource} is in use by another battery-gateway process; "
                        "stop it first (systemctl stop battery-gateway) — two gateways would poll the "
                        "same BMS and interleave their frames"
                    ) from None
                held = (sock, 0)
            _held[resource] = (held[0], held[1] + 1)
            self._mine.add(resource)

    def release(self) -> None:
        """Give every claim of this gateway back."""
        with _lock:
            for resource in self._mine:
                sock, count = _held[resource]
                if count <= 1:
                    sock.close()
                    del _held[resource]
                else:
                    _held[resource] = (sock, count - 1)
            self._mine.clear()
