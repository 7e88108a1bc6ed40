"""pyserial URL handler ``jksim://``: a simulated JK BMS behind ``serial.serial_for_url``.

Enable it with ``serial.protocol_handler_packages.append("jk_uart")`` (the jk_uart source does this
itself for ``jksim://`` ports), then open e.g. ``jksim://?cells=16&name=demo&current=20``.

Query parameters: ``cells``, ``soc``, ``current`` (A, + = charging), ``capacity`` (Ah), ``temperature``
(°C), ``protocol`` (``1``, ``0`` or ``old`` = firmware without 0xB8..0xC0), ``drift`` (``1``: alternate
charge and discharge), ``amplitude`` (A) and ``period`` (s) of the drift, ``seed``, ``name`` (share the
simulator: :func:`jk_uart.simulator.get_simulator` returns it, created with this URL's parameters on
first open), ``clock`` and ``speed``.

Time: with ``clock=real`` (default) the simulator is stepped, on each request, by the real time elapsed
since the previous one times ``speed``; with ``clock=manual`` it never moves by itself and the caller
steps it (``get_simulator(name).step(dt)``). Replies keep wire time at the port's baud rate, as on a
real line (the request's bytes, then each chunk's, 10 bits a byte), plus the simulator's chunk delays
(split, trickle), in real time; a new request abandons a reply still being delivered. The source
refuses replies faster than their wire time (late replies to an earlier request), so this pacing is
what lets it read the simulator. While the
simulator is ``unplug()``-ed, open, read and write raise :class:`serial.SerialException`, like a USB
adapter that was pulled out.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import deque
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from gateway_core.ptysim import wire_time_s

from .simulator import SimulatedBms, get_simulator

_FLOAT_KEYS = {
    "soc": "soc_pct",
    "current": "current_a",
    "capacity": "capacity_ah",
    "temperature": "temperature_c",
}
_FLOAT_KEYS |= {"amplitude": "drift_amplitude_a", "period": "drift_period_s"}
KNOWN = (*_FLOAT_KEYS, "cells", "protocol", "drift", "seed", "name", "clock", "speed")


def parse_url(url: str) -> tuple[dict[str, Any], str | None, bool, float]:
    """``jksim://`` URL -> (simulator kwargs, shared name, manual clock?, speed). :raises ValueError:."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "jksim":
        raise ValueError(f"expected a jksim:// URL, got {url!r}")
    kwargs: dict[str, Any] = {}
    name: str | None = parts.netloc or None
    manual, speed = False, 1.0
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key in _FLOAT_KEYS:
            kwargs[_FLOAT_KEYS[key]] = float(value)
        elif key in ("cells", "seed"):
            kwargs[key] = int(value)
        elif key == "protocol":
            if value not in ("0", "1", "old"):
                raise ValueError(f"protocol={value!r}: expected 1, 0 or old")
            kwargs["protocol_version"] = None if value == "old" else int(value)
        elif key == "drift":
            kwargs["drift"] = value.lower() in ("1", "true", "yes", "on", "")
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
    """A serial port whose other end is a :class:`SimulatedBms`."""

    is_open: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.simulator: SimulatedBms | None = None
        self._pending: deque[tuple[float, bytes]] = deque()
        self._cond = threading.Condition()
        self._manual = False
        self._speed = 1.0
        self._last_step = 0.0
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Attach to the (shared or private) simulator named by the URL."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            kwargs, name, self._manual, self._speed = parse_url(self._port)
            sim = get_simulator(name, **kwargs) if name else SimulatedBms(**kwargs)
        except ValueError as exc:
            raise SerialException(f"{self._port}: {exc}") from None
        if sim.unplugged:
            raise SerialException("simulated adapter unplugged")
        self.simulator = sim
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
        """Nothing to configure (baud rate and timeouts are read when used)."""

    def _sim(self) -> SimulatedBms:
        if not self.is_open or self.simulator is None:
            raise PortNotOpenError()
        if self.simulator.unplugged:
            raise SerialException("device disconnected (simulated unplug)")
        return self.simulator

    def _ready(self, now: float) -> int:
        return sum(len(data) for at, data in self._pending if at <= now)

    @property
    def in_waiting(self) -> int:
        """Bytes already delivered and not read."""
        self._sim()
        with self._cond:
            return self._ready(time.monotonic())

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` for them (pyserial semantics)."""
        self._sim()
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
                self._sim()
        return bytes(out)

    def write(self, data: bytes | bytearray | memoryview) -> int | None:
        """Hand ``data`` to the simulator and schedule its answer."""
        sim = self._sim()
        now = time.monotonic()
        if not self._manual:
            sim.step((now - self._last_step) * self._speed)
        self._last_step = now
        before = sim.requests
        chunks = sim.respond(bytes(data))
        with self._cond:
            if sim.requests != before:
                self._pending.clear()  # a new request abandons a reply still being sent
            at = max(now, self._pending[-1][0]) if self._pending else now  # bytes queue up in order
            baud = self._baudrate
            if chunks:
                at += wire_time_s(len(data), baud)
            for chunk in chunks:
                at += chunk.delay_s + wire_time_s(len(chunk.data), baud)
                self._pending.append((at, chunk.data))
            self._cond.notify_all()
        return len(data)

    def reset_input_buffer(self) -> None:
        """Drop the bytes already delivered (bytes still on their way keep coming)."""
        self._sim()
        with self._cond:
            now = time.monotonic()
            while self._pending and self._pending[0][0] <= now:
                self._pending.popleft()

    def reset_output_buffer(self) -> None:
        """Nothing is ever queued for output."""
        self._sim()

    @property
    def out_waiting(self) -> int:
        """Always 0: writes reach the simulator at once."""
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
