"""The systemd notify protocol (``sd_notify``) over the ``NOTIFY_SOCKET`` datagram socket, stdlib only."""

from __future__ import annotations

import os
import socket


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
        """Send one datagram; False (never an exception) when it could not be sent."""
        if not self._address:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
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
        """``STATUS=<text>``, only when it changed."""
        if text != self._last_status:
            self._last_status = text
            self.send("STATUS=" + text.replace("\n", " "))

    def stopping(self) -> None:
        """``STOPPING=1``."""
        self.send("STOPPING=1")

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
