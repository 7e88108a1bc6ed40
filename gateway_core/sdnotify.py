"""The systemd notify protocol (``sd_notify``) over the ``NOTIFY_SOCKET`` datagram socket, stdlib only.

A datagram send blocks while the receiver's queue is full (``net.unix.max_dgram_qlen``, 10 without
systemd's sysctl defaults). The control loop must not stall behind a busy PID 1, so each send waits
at most :data:`SEND_TIMEOUT_S`; a message that could not go is dropped (``READY=1`` is retried on the
next successful publish, ``WATCHDOG=1`` comes again next cycle).
"""

from __future__ import annotations

import os
import socket

#: Longest a single notification may hold up the loop.
SEND_TIMEOUT_S = 0.25


class SdNotifier:
    """Sends ``READY=1``, ``WATCHDOG=1``, ``STATUS=...`` and ``STOPPING=1``; a no-op outside systemd."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        self._socket: socket.socket | None = None
        self.ready_sent = False
        self._last_status = ""

    @property
    def enabled(self) -> bool:
        """True when a notify socket was given (running under systemd with Type=notify)."""
        return bool(self._address)

    def send(self, message: str) -> bool:
        """Send one datagram; False (never an exception) when it could not be sent in time."""
        if not self._address:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.settimeout(SEND_TIMEOUT_S)
            self._socket.sendto(message.encode(), self._address)
        except OSError:
            return False
        return True

    def ready(self) -> None:
        """``READY=1``, once."""
        if not self.ready_sent:
            self.ready_sent = self.send("READY=1")

    def watchdog(self) -> None:
        """``WATCHDOG=1``: one cycle completed."""
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """``STATUS=<text>``, only when it changed (again next time if the send failed)."""
        if text != self._last_status and self.send("STATUS=" + text.replace("\n", " ")):
            self._last_status = text

    def stopping(self) -> None:
        """``STOPPING=1``."""
        self.send("STOPPING=1")

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
