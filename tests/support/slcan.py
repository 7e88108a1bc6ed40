"""A fake slcan CAN adapter (as a CANable runs) on a pseudo-terminal.

python-can's ``slcan`` interface opens :attr:`~SlcanAdapter.port` as its serial port. The adapter
answers the ASCII commands (``O``, ``C``, ``S6``, ``V``, ``N``, ...) with ``\\r``, acknowledges each
sent frame (``t<id><dlc><data>``) with ``z\\r`` while open and with BEL (``\\a``, python-can's error
reply) while closed, records every frame with its arrival time on ``clock`` and can put frames on the
"bus" for the host. Behind a ``link`` it can vanish, come back, jam and unjam (see
:mod:`tests.support.pty`).
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

from .pty import PtyPeer

#: Default real-time bound of the ``wait_*`` helpers (a hang guard, never asserted as a duration).
WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class BusFrame:
    """One frame the host sent, with its arrival time (on the adapter's ``clock``)."""

    at_s: float
    arbitration_id: int
    data: bytes

    @property
    def currents(self) -> tuple[float, float]:
        """Charge and discharge current limits of a 0x351 frame (A)."""
        _cvl, ccl, dcl = struct.unpack_from("<Hhh", self.data)
        return ccl / 10.0, dcl / 10.0

    @property
    def allows_current(self) -> bool:
        """A 0x351 frame with a non-zero charge or discharge limit."""
        return any(amps != 0 for amps in self.currents)


def _pairs(frames: list[BusFrame]) -> list[tuple[int, bytes]]:
    return [(frame.arbitration_id, frame.data) for frame in frames]


class SlcanAdapter(PtyPeer):
    """Serves slcan on a pty (behind ``link`` if given); ``commands`` holds every line received."""

    def __init__(self, link: str | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.commands: list[str] = []
        self.frames: list[BusFrame] = []
        self.is_open = False
        self.opens = 0
        self._records = threading.Lock()
        super().__init__(link=link, clock=clock, name="fake-slcan")

    def vanish(self) -> None:
        """Pull the adapter (see :meth:`PtyPeer.vanish`); plugged in again, its channel is closed."""
        super().vanish()
        self.is_open = False

    def inject(self, arbitration_id: int, data: bytes) -> None:
        """Put a frame from another node (e.g. the inverter's 0x305) on the bus."""
        self._send(f"t{arbitration_id:03X}{len(data)}{data.hex().upper()}\r".encode())

    # -- what was sent ------------------------------------------------------------------------

    def received(self) -> list[tuple[int, bytes]]:
        """Frames the host sent so far, as ``(arbitration_id, data)`` pairs."""
        return _pairs(self.sent())

    def sent(self, arbitration_id: int | None = None) -> list[BusFrame]:
        """Frames the host sent so far (only ``arbitration_id`` ones if given)."""
        with self._records:
            frames = list(self.frames)
        if arbitration_id is None:
            return frames
        return [frame for frame in frames if frame.arbitration_id == arbitration_id]

    @overload
    def wait_for(self, count: int, /, *, timeout_s: float = WAIT_S) -> list[tuple[int, bytes]]: ...

    @overload
    def wait_for(
        self, arbitration_id: int, count: int, /, *, timeout_s: float = WAIT_S
    ) -> list[BusFrame]: ...

    def wait_for(
        self, first: int, count: int | None = None, /, *, timeout_s: float = WAIT_S
    ) -> list[tuple[int, bytes]] | list[BusFrame]:
        """Wait (real time, bounded) until ``count`` frames arrived; return them all.

        ``wait_for(count)`` counts every frame and returns :meth:`received` pairs;
        ``wait_for(arbitration_id, count)`` counts and returns the :meth:`sent` frames with that id.
        """
        arbitration_id = None if count is None else first
        wanted = first if count is None else count
        deadline = time.monotonic() + timeout_s
        while len(frames := self.sent(arbitration_id)) < wanted and time.monotonic() < deadline:
            time.sleep(0.005)
        return _pairs(frames) if count is None else frames

    def wait_command(self, command: str, count: int = 1, timeout_s: float = WAIT_S) -> bool:
        """Wait (real time, bounded) until the host sent ``command`` ``count`` times; True if it did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._records:
                if self.commands.count(command) >= count:
                    return True
            time.sleep(0.005)
        return False

    # -- the adapter ----------------------------------------------------------------------------

    def _received(self, buffer: bytes, now: float) -> bytes:
        while b"\r" in buffer:
            line, buffer = buffer.split(b"\r", 1)
            self._answer(line.lstrip(b"\x00").decode("ascii", "replace"), now)
        return buffer

    def _answer(self, line: str, now: float) -> None:
        with self._records:
            self.commands.append(line)
        reply = b"\r"
        if line.startswith("t") and len(line) >= 5:
            try:
                arbitration_id = int(line[1:4], 16)
                dlc = int(line[4])
                data = bytes.fromhex(line[5 : 5 + 2 * dlc])
            except ValueError:
                reply = b"\a"
            else:
                with self._records:
                    self.frames.append(BusFrame(now, arbitration_id, data))
                reply = b"z\r" if self.is_open else b"\a"
        elif line == "V":
            reply = b"V1013\r"
        elif line == "N":
            reply = b"NA123\r"
        elif line in ("O", "L"):
            self.is_open = True
            self.opens += 1
        elif line == "C":
            self.is_open = False
        self._send(reply)
