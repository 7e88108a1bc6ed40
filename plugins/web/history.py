"""The last 24 hours at one point a minute, kept in memory (bounded: 1440 points).

Each point sums up the cycles whose start fell in one minute of the gateway's monotonic clock: the
mean voltage, current, SOC and charge/discharge limits, the highest cell seen and the lowest, and
whether stop limits were sent at any time in it. Voltage, current, SOC and cells are ``None`` for a
minute without a single reading (the fail-safe held all along). Not thread-safe: the observer
guards it with its lock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gateway_core.model import CycleResult

MINUTE_S = 60.0
CAPACITY = 1440

#: The series of ``/api/history``, in order.
SERIES = (
    "voltage_v",
    "current_a",
    "soc_pct",
    "charge_current_a",
    "discharge_current_a",
    "max_cell_v",
    "min_cell_v",
)


@dataclass(frozen=True, slots=True)
class MinutePoint:
    """One minute: ``start_s`` on the monotonic clock, the means and extremes, and the cycle counts."""

    start_s: float
    voltage_v: float | None
    current_a: float | None
    soc_pct: float | None
    charge_current_a: float
    discharge_current_a: float
    max_cell_v: float | None
    min_cell_v: float | None
    failsafe: bool
    cycles: int


@dataclass(slots=True)
class _Bucket:
    minute: int
    cycles: int = 0
    readings: int = 0
    voltage: float = 0.0
    current: float = 0.0
    soc: float = 0.0
    charge: float = 0.0
    discharge: float = 0.0
    max_cell: float | None = None
    min_cell: float | None = None
    failsafe: bool = False

    def add(self, result: CycleResult) -> None:
        self.cycles += 1
        self.charge += result.limits.charge_current_a
        self.discharge += result.limits.discharge_current_a
        self.failsafe |= result.limits.fault is not None
        reading = result.reading
        if reading is None:
            return
        self.readings += 1
        self.voltage += reading.voltage_v
        self.current += reading.current_a
        self.soc += reading.soc_pct
        if reading.cell_voltages_v:
            high, low = reading.max_cell_v, reading.min_cell_v
            self.max_cell = high if self.max_cell is None else max(self.max_cell, high)
            self.min_cell = low if self.min_cell is None else min(self.min_cell, low)

    def point(self) -> MinutePoint:
        n = self.readings

        def mean(total: float) -> float | None:
            return total / n if n else None

        return MinutePoint(
            start_s=self.minute * MINUTE_S,
            voltage_v=mean(self.voltage),
            current_a=mean(self.current),
            soc_pct=mean(self.soc),
            charge_current_a=self.charge / self.cycles,
            discharge_current_a=self.discharge / self.cycles,
            max_cell_v=self.max_cell,
            min_cell_v=self.min_cell,
            failsafe=self.failsafe,
            cycles=self.cycles,
        )


@dataclass
class MinuteHistory:
    """The minute series: closed minutes (at most ``capacity - 1``) and the minute in progress."""

    capacity: int = CAPACITY
    _closed: deque[MinutePoint] = field(init=False)
    _open: _Bucket | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("MinuteHistory.capacity must be at least 1")
        self._closed = deque(maxlen=self.capacity - 1) if self.capacity > 1 else deque(maxlen=0)

    def add(self, result: CycleResult) -> None:
        """Fold one cycle in; a cycle of a later minute closes the one in progress.

        A result from an earlier minute than the one in progress (it cannot happen on a monotonic
        clock) is folded into the one in progress rather than reopening history.
        """
        minute = math.floor(result.started_at_s / MINUTE_S)
        if self._open is not None and minute > self._open.minute:
            self._closed.append(self._open.point())
            self._open = None
        if self._open is None:
            self._open = _Bucket(minute)
        self._open.add(result)

    def points(self) -> list[MinutePoint]:
        """Every point, oldest first; the last one is the minute in progress."""
        points = list(self._closed)
        if self._open is not None:
            points.append(self._open.point())
        return points


def history_doc(history: MinuteHistory, *, monotonic_now: float, wall_now: float) -> dict[str, Any]:
    """The ``/api/history`` document: column per series, times as wall-clock seconds (Unix epoch).

    A point's wall time is derived now, ``wall_now - (monotonic_now - start_s)``: the Pi's wall clock
    jumps when NTP syncs, the monotonic one never does.
    """
    points = history.points()
    doc: dict[str, Any] = {
        "interval_s": MINUTE_S,
        "capacity": history.capacity,
        "now": wall_now,
        "t": [round(wall_now - (monotonic_now - p.start_s), 3) for p in points],
    }
    for name in SERIES:
        doc[name] = [getattr(p, name) for p in points]
    doc["failsafe"] = [p.failsafe for p in points]
    doc["cycles"] = [p.cycles for p in points]
    return doc
