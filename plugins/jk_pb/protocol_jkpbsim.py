"""pyserial URL handler ``jkpbsim://``: a simulated JK-PB RS485 line behind ``serial.serial_for_url``.

The jk_pb source enables it for ``jkpbsim://`` ports (``serial.protocol_handler_packages`` gets
``jk_pb``). Example: ``jkpbsim://?packs=3&cells=16&name=bank`` (packs at addresses 1-3).

Query parameters: ``packs`` (N packs at 1..N) or ``addresses`` (``1,2,5``), ``cells``, ``soc``,
``current`` (A, + = charging), ``capacity`` (Ah), ``temperature`` (°C), ``layout`` (``32s``/``24s``),
``seed``, ``name`` (share the line: :func:`jk_pb.simulator.get_line` returns it, created with this
URL's parameters on first open), ``clock`` (``real``: stepped by real time on each write; ``manual``)
and ``speed``. Replies keep wire time at the port's baud rate, as on a real line: a reply is
delivered no sooner than the request's bytes and its own would take. While the line is
``unplug()``-ed, open, read and write raise :class:`serial.SerialException`.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import deque
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from gateway_core.ptysim import wire_time_s

from .simulator import SimulatedLine, get_line

_FLOATS = {
    "soc": "soc_pct",
    "current": "current_a",
    "capacity": "capacity_ah",
    "temperature": "temperature_c",
}
KNOWN = (*_FLOATS, "packs", "addresses", "cells", "layout", "seed", "name", "clock", "speed")


def parse_url(url: str) -> tuple[dict[str, Any], str | None, bool, float]:
    """``jkpbsim://`` URL -> (line kwargs, shared name, manual clock?, speed). :raises ValueError:."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "jkpbsim":
        raise ValueError(f"expected a jkpbsim:// URL, got {url!r}")
    kwargs: dict[str, Any] = {}
    name: str | None = parts.netloc or None
    manual, speed = False, 1.0
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key in _FLOATS:
            kwargs[_FLOATS[key]] = float(value)
        elif key == "packs":
            kwargs["addresses"] = tuple(range(1, int(value) + 1))
        elif key == "addresses":
            kwargs["addresses"] = tuple(int(part) for part in value.split(",") if part)
        elif key in ("cells", "seed"):
            kwargs[key] = int(value)
        elif key == "layout":
            if value not in ("32s", "24s"):
                raise ValueError(f"layout={value!r}: expected 32s or 24s")
            kwargs["layout"] = value
        elif key == "name":
            name = value
        elif key == "clock":
            if value not in ("real", "manual"):
                raise ValueError(f"clock={value!r}: expected real or manual")
            manual = value == "manual"
        elif key == "speed":
            speed = float(value)
        else:
            raise ValueError(f"unknown option {key!r}; known: {', '.join(KNOWN)}")
    return kwargs, name, manual, speed


class Serial(SerialBase):  # type: ignore[misc]  # pyserial ships no type information
    """A serial port whose other end is a :class:`SimulatedLine`."""

    is_open: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.line: SimulatedLine | None = None
        self._pending: deque[tuple[float, bytes]] = deque()
        self._cond = threading.Condition()
        self._manual = False
        self._speed = 1.0
        self._last_step = 0.0
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Attach to the (shared or private) simulated line named by the URL."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            kwargs, name, self._manual, self._speed = parse_url(self._port)
            line = get_line(name, **kwargs) if name else SimulatedLine(**kwargs)
        except ValueError as exc:
            raise SerialException(f"{self._port}: {exc}") from None
        if line.unplugged:
            raise SerialException("simulated adapter unplugged")
        self.line = line
        self._pending.clear()
        self._last_step = time.monotonic()
        self.is_open = True

    def close(self) -> None:
        """Detach; wakes a pending read."""
        self.is_open = False
        with self._cond:
            self._pending.clear()
            self._cond.notify_all()

    def _reconfigure_port(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to configure (the baud rate is read when pacing replies)."""

    def _line(self) -> SimulatedLine:
        if not self.is_open or self.line is None:
            raise PortNotOpenError()
        if self.line.unplugged:
            raise SerialException("device disconnected (simulated unplug)")
        return self.line

    @property
    def in_waiting(self) -> int:
        """Bytes already delivered and not read."""
        self._line()
        with self._cond:
            now = time.monotonic()
            return sum(len(data) for at, data in self._pending if at <= now)

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` for them (pyserial semantics)."""
        self._line()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        out = bytearray()
        with self._cond:
            while len(out) < size:
                now = time.monotonic()
                while self._pending and self._pending[0][0] <= now and len(out) < size:
                    at, data = self._pending.popleft()
                    take = size - len(out)
                    out += data[:take]
                    if len(data) > take:
                        self._pending.appendleft((at, data[take:]))
                if len(out) >= size or (deadline is not None and now >= deadline):
                    break
                waits = [] if deadline is None else [deadline - now]
                if self._pending:
                    waits.append(self._pending[0][0] - now)
                self._cond.wait(max(0.0, min(waits)) if waits else None)
                self._line()
        return bytes(out)

    def write(self, data: bytes | bytearray | memoryview) -> int | None:
        """Hand ``data`` to the line and schedule the packs' answers at wire speed."""
        line = self._line()
        now = time.monotonic()
        if not self._manual:
            line.step((now - self._last_step) * self._speed)
        self._last_step = now
        before = line.requests
        chunks = line.respond(bytes(data))
        baud = int(self._baudrate)
        with self._cond:
            if line.requests != before:
                self._pending.clear()  # a new request abandons a reply still being sent
            at = max(now, self._pending[-1][0]) if self._pending else now
            if chunks:
                at += wire_time_s(len(data), baud)
            for chunk in chunks:
                at += chunk.delay_s + wire_time_s(len(chunk.data), baud)
                self._pending.append((at, chunk.data))
            self._cond.notify_all()
        return len(data)

    def reset_input_buffer(self) -> None:
        """Drop the bytes already delivered (bytes still on their way keep coming)."""
        self._line()
        with self._cond:
            now = time.monotonic()
            while self._pending and self._pending[0][0] <= now:
                self._pending.popleft()

    def reset_output_buffer(self) -> None:
        """Nothing is ever queued for output."""
        self._line()

    @property
    def out_waiting(self) -> int:
        """Always 0: writes reach the line at once."""
        return 0

    def _update_break_state(self) -> None:
        """No break line."""

    def _update_rts_state(self) -> None:
        """No RTS line."""

    def _update_dtr_state(self) -> None:
        """No DTR line."""

    @property
    def cts(self) -> bool:
        """Always clear to send."""
        return True

    @property
    def dsr(self) -> bool:
        """Always ready."""
        return True

    @property
    def ri(self) -> bool:
        """No ring."""
        return False

    @property
    def cd(self) -> bool:
        """Carrier always present."""
        return True
