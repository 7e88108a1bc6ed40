"""python-can's ``slcan`` interface, hardened against a corrupt byte and a closed CAN channel.

python-can parses each line the adapter sends without guarding it: ``tZZ18FF`` raises ValueError,
``\\xff\\xfe`` UnicodeDecodeError, wrapped as a CanOperationError (and the bytes stay in its
buffer, so every later read fails too), a short
``t35`` IndexError. :class:`GuardedSlcanBus` skips such a line (counted in :attr:`corrupt`) and reads
on. python-can's ``send()`` also ignores the adapter's answer; an adapter whose channel is closed
(after a reset) answers each frame with BEL, counted here for the sink to act on
(:meth:`take_refusals`). Answers come back in the order of the commands, so each one is matched to
what was written: a BEL to a command (a Lawicel adapter answers ``C`` on a closed channel so, as
python-can's open sends it) is not a refused frame.

Reading is also cheaper than python-can's: it reads the port one byte per call (a ``select`` and a
``read`` each, about 15 bytes per acknowledged frame and 22 per received one) and waits the port's
1 ms timeout on every empty poll, eight of them per publish. Here each call reads all that is waiting
at once, splits it into lines, and a zero timeout never waits.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import can
import serial
from can.exceptions import error_check
from can.interfaces.slcan import slcanBus

#: Exceptions python-can's slcan parser raises on a corrupt line.
CORRUPT_LINE = (ValueError, IndexError, UnicodeDecodeError)
BEL = "\a"
#: The bytes that end an slcan line: CR (a frame or an answer) and BEL (an error answer).
LINE_ENDS = (0x0D, 0x07)
#: First letters of the slcan lines that carry a frame (sent by us, or received from the bus).
FRAME_LETTERS = frozenset("tTrRdDbB")
#: Commands remembered while their answers are due (an adapter that never acknowledges frames
#: must not grow the queue for ever).
MAX_PENDING = 256


class GuardedSlcanBus(slcanBus):
    """An slcan bus that skips corrupt lines and counts refused (BEL) frames."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.corrupt = 0
        self._refusals = 0
        self._pending: deque[bool] = deque(maxlen=MAX_PENDING)  # per command written: was it a frame?
        super().__init__(*args, **kwargs)

    def take_refusals(self) -> int:
        """BEL answers seen since the last call (each means a frame the adapter did not send)."""
        count, self._refusals = self._refusals, 0
        return count

    def _write(self, string: str) -> None:
        self._pending.append(string[:1] in FRAME_LETTERS)
        super()._write(string)

    def _read(self, timeout: float | None) -> str | None:
        """The next line from the adapter, or None when none is complete within ``timeout``.

        ``timeout`` 0 takes only what has already arrived; None waits for ever.
        """
        expiry = serial.Timeout(timeout)
        port = self.serialPortOrig
        while True:
            line = self._next_line()
            if line is not None:
                return line
            with error_check("Could not read from serial device"):
                waiting = port.in_waiting
                if waiting:
                    self._buffer += port.read(waiting)
                    continue
                if expiry.expired():
                    return None
                self._buffer += port.read(1)  # waits at most the port's timeout for the next byte

    def _next_line(self) -> str | None:
        """Take the first whole line out of the buffer (skipping undecodable ones), if there is one."""
        buffer = self._buffer
        while True:
            ends = [at for at in map(buffer.find, LINE_ENDS) if at >= 0]
            if not ends:
                return None
            end = min(ends) + 1
            raw = bytes(buffer[:end])
            del buffer[:end]
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError:
                self.corrupt += 1
                continue
            if line[:1] not in FRAME_LETTERS and self._pending:
                was_frame = self._pending.popleft()  # an answer: CR, "z" CR, BEL, "V1013" CR, ...
                if was_frame and line.endswith(BEL):
                    self._refusals += 1
            return line

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        try:
            result: tuple[can.Message | None, bool] = super()._recv_internal(timeout)
        except CORRUPT_LINE:
            self.corrupt += 1
            return None, False
        return result


def open_bus(**kwargs: Any) -> can.BusABC:
    """``can.Bus(**kwargs)``, with slcan through :class:`GuardedSlcanBus`."""
    if kwargs.get("interface") == "slcan":
        options = {key: value for key, value in kwargs.items() if key != "interface"}
        return GuardedSlcanBus(**options)
    return can.Bus(**kwargs)
