"""Soak: a simulated day (86,400 one-second cycles on the injected clock) with faults sprinkled in.

Every cycle must publish (except while the sink itself is down), stop limits must come within the
documented bounds of each fault and go once it clears, no frame may carry limits from a stale or
absurd reading, and neither memory (tracemalloc) nor file descriptors may grow.
``GATEWAY_SOAK_DAYS=N`` soaks N days.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from collections.abc import Iterator

import pytest

from gateway_core.engine import Engine, PluginNames
from gateway_core.lane import InlineLane
from gateway_core.loop import GatewayLoop
from gateway_core.model import CycleResult
from gateway_core.sdnotify import SdNotifier
from tests.reliability.soak import (
    LIMITS,
    MAX_BACKOFF_S,
    NOT_RUN,
    PERIOD,
    SINK_KINDS,
    SOURCE_KINDS,
    STALE,
    STOP,
    UNPUBLISHED,
    CheckingSink,
    CountingHandler,
    CycleLog,
    DayPolicy,
    DaySource,
    Episode,
    FaultDay,
    SoakClock,
    open_fds,
    plan_faults,
    soak_cycles,
)

GATEWAY_LOGGERS = ("gateway.engine", "gateway.loop", "gateway.observers")
#: tracemalloc starts here, measures at WARM, and again at the last cycle.
TRACE_FROM = 5_000
WARM = 10_000
#: Allowed growth of traced memory between WARM and the end of the day.
MAX_GROWTH_BYTES = 256 * 1024


@pytest.fixture
def quiet_gateway_logs() -> Iterator[CountingHandler]:
    """Count the gateway's log records and drop them, instead of letting pytest keep a day of them.

    A logger's filter only sees records made on that very logger, so it goes on each of them.
    """
    counter = CountingHandler()
    loggers = [logging.getLogger(name) for name in GATEWAY_LOGGERS]
    for logger in loggers:
        logger.addFilter(counter.drop)
    try:
        yield counter
    finally:
        for logger in loggers:
            logger.removeFilter(counter.drop)


class Probe:
    """The loop's per-cycle callback: records the cycle, measures memory and fds at two points."""

    def __init__(self, log: CycleLog, cycles: int) -> None:
        self.log = log
        self.cycles = cycles
        self.fds: list[int] = []
        self.traced: list[int] = []
        self.top: list[str] = []
        self._snapshot: tracemalloc.Snapshot | None = None

    def __call__(self, result: CycleResult) -> None:
        self.log.record(result)
        count = self.log.results
        if count == TRACE_FROM:
            tracemalloc.start()
        elif count in (WARM, self.cycles):
            gc.collect()
            self.fds.append(open_fds())
            self.traced.append(tracemalloc.get_traced_memory()[0])
            snapshot = tracemalloc.take_snapshot()
            if self._snapshot is not None:
                diff = snapshot.compare_to(self._snapshot, "lineno")
                self.top = [str(stat) for stat in diff[:5]]
            self._snapshot = snapshot


def expected_source_fault(log: CycleLog, episode: Episode) -> list[str]:
    """A source fault: the last good reading is from ``start - 1``; stop once it is older than STALE."""
    problems = []
    recovered = log.first(episode.end, (LIMITS,))
    if recovered is None:
        return [f"{episode}: never recovered"]
    bound = episode.end + (MAX_BACKOFF_S / PERIOD if episode.kind == "unplug" else 0)
    if recovered > bound:
        problems.append(f"{episode}: recovered at cycle {recovered}, after {bound}")
    for index in range(episode.start, recovered):
        age = (index - (episode.start - 1)) * PERIOD
        want = STOP if age > STALE else LIMITS
        if log.codes[index] != want:
            problems.append(f"{episode}: cycle {index} (reading {age:g} s old) gave {log.codes[index]}")
            break
    return problems


def expected_instant_fault(log: CycleLog, episode: Episode) -> list[str]:
    """Implausible reading, policy error, late lane: stop on each faulty cycle, limits right after."""
    codes = set(log.codes[episode.start : episode.end])
    problems = [] if codes == {STOP} else [f"{episode}: faulty cycles gave {sorted(codes)}, not stop"]
    if log.codes[episode.end] != LIMITS:
        problems.append(f"{episode}: cycle {episode.end} after the fault gave {log.codes[episode.end]}")
    return problems


def expected_sink_fault(log: CycleLog, episode: Episode) -> list[str]:
    """The sink down: nothing published until it reopens (backoff), then limits again."""
    recovered = log.first(episode.start, (LIMITS, STOP))
    if recovered is None or recovered < episode.end:
        return [f"{episode}: published while the sink was down (cycle {recovered})"]
    problems = []
    bound = episode.end + (0 if episode.kind == "sink" else MAX_BACKOFF_S / PERIOD)
    if recovered > bound or log.codes[recovered] != LIMITS:
        problems.append(f"{episode}: sink back at cycle {recovered} with {log.codes[recovered]}")
    if set(log.codes[episode.start : recovered]) != {UNPUBLISHED}:
        problems.append(f"{episode}: unexpected codes while the sink was down")
    return problems


def check_episodes(log: CycleLog, episodes: list[Episode]) -> tuple[list[str], set[int]]:
    """All episode problems, and the cycles allowed to be unpublished (the sink outages)."""
    problems: list[str] = []
    sink_down: set[int] = set()
    for episode in episodes:
        if episode.kind in SOURCE_KINDS:
            problems += expected_source_fault(log, episode)
        elif episode.kind in SINK_KINDS:
            problems += expected_sink_fault(log, episode)
            back = log.first(episode.start, (LIMITS, STOP)) or episode.end
            sink_down.update(range(episode.start, back))
        else:
            problems += expected_instant_fault(log, episode)
    return problems, sink_down


@pytest.mark.slow
def test_a_day_of_cycles_with_faults_publishes_every_cycle_without_leaks(quiet_gateway_logs):
    cycles = soak_cycles()
    clock = SoakClock()
    episodes = plan_faults(cycles)
    day = FaultDay(clock, cycles, episodes)
    source, policy, sink = DaySource(clock, day), DayPolicy(day), CheckingSink(clock, day)
    engine = Engine(
        source,
        policy,
        sink,
        names=PluginNames("soak", "soak", "soak"),
        clock=clock,
        period_s=PERIOD,
        stale_after_s=STALE,
        lane=InlineLane(clock),
    )
    log = CycleLog(clock, cycles)
    probe = Probe(log, cycles)
    loop = GatewayLoop(
        engine, clock=clock, period_s=PERIOD, sd_notify=SdNotifier(""), max_cycles=cycles, on_cycle=probe
    )
    try:
        loop.run()
    finally:
        tracemalloc.stop()

    # every cycle ran, on its 1 s slot, and none was skipped
    assert log.results == cycles and loop.cycles == cycles
    assert log.off_grid == 0 and loop.skipped_slots == 0
    assert NOT_RUN not in log.codes[:cycles]
    # no frame ever carried limits from a missing, stale or implausible reading
    assert sink.violations == []
    # each fault gave stop within its bound and the gateway recovered by itself
    problems, sink_down = check_episodes(log, episodes)
    assert problems == []
    assert len({episode.kind for episode in episodes}) == 8 and len(episodes) > 100
    # every cycle published except while the sink itself was down
    unpublished = {index for index in range(cycles) if log.codes[index] == UNPUBLISHED}
    assert unpublished == sink_down
    assert sink.published == cycles - len(sink_down) + 1  # + the stop set sent at shutdown
    # no growth of memory or file descriptors between cycle 10,000 and the end of the day
    assert probe.fds[0] == probe.fds[1]
    growth = probe.traced[1] - probe.traced[0]
    assert growth < MAX_GROWTH_BYTES, "\n".join(probe.top)
    # logs: a line per state change, never one per cycle
    assert quiet_gateway_logs.count < 8 * len(episodes) + 10
