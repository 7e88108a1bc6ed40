"""A scripted day of faults on the injected clock, and the recorders that check every cycle of it.

A :class:`FaultDay` says, for each cycle index, which fault (if any) is active. The source, policy
and sink doubles of this module consult it, so one plan drives all three roles. A
:class:`CycleLog` keeps one byte per cycle (what was published) in a preallocated ``bytearray``, so
recording a day allocates nothing per cycle and the memory check measures the gateway, not us.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, replace

from gateway_core.errors import FrameError, SinkUnavailable, SourceTimeout, SourceUnavailable
from gateway_core.model import BatteryReading, CycleResult, GatewayState, LimitFlag, Limits, PublishReport
from gateway_core.plausibility import implausibility

PERIOD = 1.0
STALE = 5.0
DAY = 86_400

#: Fault kinds and the (min, max) length of one episode, in cycles.
KINDS: dict[str, tuple[int, int]] = {
    "timeout": (1, 12),  # no reply: SourceTimeout
    "garbage": (1, 12),  # bad frames: FrameError
    "unplug": (2, 40),  # the port vanished: SourceUnavailable on read and on open
    "implausible": (1, 4),  # a cell at 0 V
    "policy": (1, 4),  # the policy raises
    "slow": (1, 3),  # the read takes 0.9 period: the lane is late
    "sink": (1, 1),  # one send error
    "sink_long": (2, 8),  # the bus is off for a while
}
SOURCE_KINDS = ("timeout", "garbage", "unplug")
SINK_KINDS = ("sink", "sink_long")
#: Longest reopen delay of the core's backoff (1, 2, 4 ... 30 s).
MAX_BACKOFF_S = 30.0

# CycleLog codes
NOT_RUN, STOP, LIMITS, UNPUBLISHED = 0, 1, 2, 3


def soak_cycles() -> int:
    """Cycles of the soak: one day, or ``GATEWAY_SOAK_DAYS`` days."""
    return DAY * max(1, int(os.environ.get("GATEWAY_SOAK_DAYS", "1")))


@dataclass(frozen=True, slots=True)
class Episode:
    """One fault of ``kind`` active from cycle ``start`` for ``length`` cycles."""

    kind: str
    start: int
    length: int

    @property
    def end(self) -> int:
        """The first cycle after the fault cleared."""
        return self.start + self.length


def plan_faults(cycles: int, seed: int = 86_400, gap: tuple[int, int] = (200, 900)) -> list[Episode]:
    """Episodes of every kind in turn, with random lengths and random healthy gaps between them."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    episodes: list[Episode] = []
    at = 50
    index = 0
    while True:
        kind = kinds[index % len(kinds)]
        low, high = KINDS[kind]
        length = rng.randint(low, high)
        if at + length + 2 * MAX_BACKOFF_S + 10 > cycles:
            return episodes
        episodes.append(Episode(kind, at, length))
        at += length + rng.randint(*gap)
        index += 1


class SoakClock:
    """Injected monotonic time that records nothing (a day of sleeps must not grow a list)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.t += seconds

    def wake(self) -> None:
        pass

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def cycle_index(self) -> int:
        """The cycle whose slot the clock is in (slots are ``PERIOD`` long from ``start``)."""
        return int((self.t - self.start) / PERIOD + 1e-6)


class FaultDay:
    """Which fault is active at each cycle (one entry per cycle, built once)."""

    def __init__(self, clock: SoakClock, cycles: int, episodes: list[Episode]) -> None:
        self.clock = clock
        self.episodes = episodes
        self._kinds: list[str | None] = [None] * (cycles + 1)
        for episode in episodes:
            for index in range(episode.start, episode.end):
                self._kinds[index] = episode.kind

    def now(self) -> str | None:
        """The fault active in the current cycle's slot, or None."""
        index = self.clock.cycle_index()
        return self._kinds[index] if index < len(self._kinds) else None


class DaySource:
    """A BMS source that fails as the day's plan says and otherwise returns a fresh reading."""

    def __init__(self, clock: SoakClock, day: FaultDay, cells: int = 16) -> None:
        self.clock = clock
        self.day = day
        cell_v = (3.30,) * cells
        self._template = BatteryReading(
            source_id="soak",
            taken_at_s=0.0,
            voltage_v=round(sum(cell_v), 3),
            current_a=-5.0,
            soc_pct=60.0,
            cell_voltages_v=cell_v,
            temperatures_c=(20.0, 21.0),
            bms_temperature_c=25.0,
        )
        self._broken = replace(self._template, cell_voltages_v=(*cell_v[:-1], 0.0))
        self.opened = 0
        self.closed = 0

    def open(self) -> None:
        self.opened += 1
        if self.day.now() == "unplug":
            raise SourceUnavailable("[Errno 2] could not open port /dev/ttyUSB0")

    def read(self) -> BatteryReading:
        kind = self.day.now()
        if kind == "timeout":
            raise SourceTimeout("no reply within 0.50 s")
        if kind == "garbage":
            raise FrameError("checksum 0x1234 does not match 0x4321")
        if kind == "unplug":
            raise SourceUnavailable("[Errno 5] Input/output error")
        now = self.clock.now()
        if kind == "implausible":
            return replace(self._broken, taken_at_s=now)
        reading = replace(self._template, taken_at_s=now)
        if kind == "slow":
            self.clock.advance(0.9 * PERIOD)
        return reading

    def close(self) -> None:
        self.closed += 1


class DayPolicy:
    """Allows 40 A / 60 A while healthy; raises during a "policy" episode."""

    def __init__(self, day: FaultDay) -> None:
        self.day = day
        self.limits = Limits(40.0, 60.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("soak policy",))

    def decide(self, reading: BatteryReading, state: GatewayState) -> Limits:
        if self.day.now() == "policy":
            raise ZeroDivisionError("ladder table broke")
        return self.limits


class CheckingSink:
    """Publishes nowhere but checks every frame set: non-zero limits only on a fresh, sane reading."""

    def __init__(self, clock: SoakClock, day: FaultDay | None, stale_after_s: float = STALE) -> None:
        self.clock = clock
        self.day = day
        self.stale_after_s = stale_after_s
        self.published = 0
        self.opened = 0
        self.closed = 0
        self.violations: list[str] = []

    def open(self) -> None:
        self.opened += 1

    def publish(self, reading: BatteryReading | None, limits: Limits) -> PublishReport:
        if self.day is not None and self.day.now() in SINK_KINDS:
            raise SinkUnavailable("bus-off")
        self.published += 1
        check_frame(reading, limits, self.clock.now(), self.stale_after_s, self.violations)
        return PublishReport(frames_sent=6)

    def close(self) -> None:
        self.closed += 1


def check_frame(
    reading: BatteryReading | None, limits: Limits, now: float, stale_after_s: float, violations: list[str]
) -> None:
    """Append a line to ``violations`` when non-stop limits rest on no, a stale or an absurd reading."""
    if limits.is_stop or len(violations) > 20:
        return
    if reading is None:
        violations.append(f"t={now:.1f}: limits {limits.summary()} without a reading")
    elif now - reading.taken_at_s > stale_after_s + 1e-9:
        violations.append(f"t={now:.1f}: limits from a reading {now - reading.taken_at_s:.1f} s old")
    elif implausibility(reading) is not None:
        violations.append(f"t={now:.1f}: limits from an implausible reading")


class CycleLog:
    """One byte per cycle: NOT_RUN, STOP, LIMITS or UNPUBLISHED; filled from the loop's callback."""

    def __init__(self, clock: SoakClock, cycles: int) -> None:
        self.clock = clock
        self.codes = bytearray(cycles + 1)
        self.results = 0
        self.off_grid = 0

    def record(self, result: CycleResult) -> None:
        """The loop's ``on_cycle`` callback."""
        self.results += 1
        offset = (result.started_at_s - self.clock.start) / PERIOD
        index = round(offset)
        if abs(offset - index) > 1e-6:
            self.off_grid += 1
        if not result.published:
            self.codes[index] = UNPUBLISHED
        elif result.limits.is_stop:
            self.codes[index] = STOP
        else:
            self.codes[index] = LIMITS

    def first(self, start: int, codes: tuple[int, ...]) -> int | None:
        """The first cycle at or after ``start`` whose code is one of ``codes``."""
        for index in range(start, len(self.codes) - 1):
            if self.codes[index] in codes:
                return index
        return None


class CountingHandler:
    """Counts log records without keeping them; :meth:`drop` is a logger filter that swallows them."""

    def __init__(self) -> None:
        self.count = 0
        self.warnings = 0

    def drop(self, record: logging.LogRecord) -> bool:
        """Count ``record`` and keep it from every handler."""
        self.count += 1
        if record.levelno >= logging.WARNING:
            self.warnings += 1
        return False


def open_fds() -> int:
    """File descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))
