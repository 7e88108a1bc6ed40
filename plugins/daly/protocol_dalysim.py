"""pyserial URL handler ``dalysim://``: simulated Daly units behind ``serial.serial_for_url``.

Enable it with ``serial.protocol_handler_packages.append("daly")`` (the daly source does this itself
for ``dalysim://`` ports), then open e.g. ``dalysim://?cells=16&current=-20&refuse=97,98``.

Query parameters: ``cells``, ``probes``, ``soc``, ``current`` (A, + = charging), ``capacity`` (Ah),
``temperature`` (°C), ``board`` (1-16), ``boards`` (e.g. ``1,2,3``: one unit per board on this line),
``refuse`` (hex data ids the units do not answer, e.g. ``97,98``), ``inverted`` (``1``: the minority
current sign), ``seed``, ``name`` (share the device: :func:`get_line` returns it, created with this
URL's parameters on first open), ``clock`` and ``speed``.

Replies keep wire time at the port's baud rate (10 bits a byte), as a real line would, so the
source's late-reply rule reads them normally; chunk delays (split, trickle) come on top. With
``clock=real`` (default) the units are stepped on each request by the real time elapsed times
``speed``; with ``clock=manual`` only the caller steps them. While the device is ``unplug()``-ed,
open, read and write raise :class:`serial.SerialException`, like a pulled USB adapter.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import deque
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from gateway_core.ptysim import wire_time_s

from .line_sim import SimulatedLine
from .simulator import SimulatedDaly

_FLOATS = {
    "soc": "soc_pct",
    "current": "current_a",
    "capacity": "capacity_ah",
    "temperature": "temperature_c",
}
_INTS = ("cells", "probes", "board", "seed")
KNOWN = (*_FLOATS, *_INTS, "boards", "refuse", "inverted", "name", "clock", "speed")

_LINES: dict[str, SimulatedLine] = {}
_LINES_LOCK = threading.Lock()


def parse_url(url: str) -> tuple[dict[str, Any], list[int], str | None, bool, float]:
    """URL -> (unit kwargs, boards, shared name, manual clock?, speed). :raises ValueError:."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "dalysim":
        raise ValueError(f"expected a dalysim:// URL, got {url!r}")
    kwargs: dict[str, Any] = {}
    boards: list[int] = []
    name: str | None = parts.netloc or None
    manual, speed = False, 1.0
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key in _FLOATS:
            kwargs[_FLOATS[key]] = float(value)
        elif key in _INTS:
            kwargs[key] = int(value)
        elif key == "boards":
            boards = [int(b) for b in value.split(",") if b.strip()]
        elif key == "refuse":
            kwargs["refuse"] = [int(i, 16) for i in value.split(",") if i.strip()]
        elif key == "inverted":
            kwargs["inverted"] = value.lower() in ("1", "true", "yes", "on", "")
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
    return kwargs, boards or [int(kwargs.pop("board", 1))], name, manual, speed


def make_line(kwargs: dict[str, Any], boards: list[int]) -> SimulatedLine:
    """A line of units, one per board, each built with ``kwargs`` (seeded apart)."""
    kwargs = {key: value for key, value in kwargs.items() if key != "board"}
    seed = int(kwargs.pop("seed", 1))
    return SimulatedLine(SimulatedDaly(board=board, seed=seed + board, **kwargs) for board in boards)


def get_line(name: str, **kwargs: Any) -> SimulatedLine:
    """The line shared under ``name`` (created from ``kwargs`` and ``boards`` on first use)."""
    with _LINES_LOCK:
        line = _LINES.get(name)
        if line is None:
            boards = kwargs.pop("boards", [1])
            line = _LINES[name] = make_line(kwargs, boards)
        return line


def forget_line(name: str | None = None) -> None:
    """Drop the shared line ``name`` (all of them with ``None``), e.g. between tests."""
    with _LINES_LOCK:
        if name is None:
            _LINES.clear()
        else:
            _LINES.pop(name, None)


class Serial(SerialBase):  # type: ignore[misc]  # pyserial ships no type information
    """A serial port whose other end is a line of simulated Daly units."""

    is_open: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.line: SimulatedLine | None = None
        self._pending: deque[tuple[float, bytes]] = deque()
        self._cond = threading.Condition()
        self._manual, self._speed, self._last_step = False, 1.0, 0.0
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Attach to the (shared or private) line the URL names."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            kwargs, boards, name, self._manual, self._speed = parse_url(self._port)
            line = get_line(name, boards=boards, **kwargs) if name else make_line(kwargs, boards)
        except (ValueError, TypeError) as exc:
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
        """Nothing to configure (the baud rate is read when replies are paced)."""

    def _device(self) -> SimulatedLine:
        if not self.is_open or self.line is None:
            raise PortNotOpenError()
        if self.line.unplugged:
            raise SerialException("device disconnected (simulated unplug)")
        return self.line

    def _ready(self, now: float) -> int:
        return sum(len(data) for at, data in self._pending if at <= now)

    @property
    def in_waiting(self) -> int:
        """Bytes already delivered and not read."""
        self._device()
        with self._cond:
            return self._ready(time.monotonic())

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` for them (pyserial semantics)."""
        self._device()
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
                self._device()
        return bytes(out)

    def write(self, data: bytes | bytearray | memoryview) -> int | None:
        """Hand ``data`` to the units and schedule the answer at wire speed."""
        line = self._device()
        now = time.monotonic()
        if not self._manual:
            line.step((now - self._last_step) * self._speed)
        self._last_step = now
        before = line.requests
        chunks = line.respond(bytes(data))
        baud = self._baudrate
        now = time.monotonic()  # the request is on the wire once write() returns: pace from here
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
        self._device()
        with self._cond:
            now = time.monotonic()
            while self._pending and self._pending[0][0] <= now:
                self._pending.popleft()

    def reset_output_buffer(self) -> None:
        """Nothing is ever queued for output."""
        self._device()

    @property
    def out_waiting(self) -> int:
        """Always 0: writes reach the units at once."""
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
