"""The fail-safe invariants of DESIGN §1, each proven on the injected clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import FrameError, SinkUnavailable, SourceTimeout, SourceUnavailable
from gateway_core.loop import GatewayLoop
from gateway_core.model import CycleResult, Fault, Limits
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy, make_reading

NAMES = PluginNames("fake_source", "fixed", "fake_sink")
PERIOD = 1.0
STALE = 5.0


def make_engine(clock: FakeClock, source: FakeSource, policy: FixedPolicy, sink: FakeSink) -> Engine:
    engine = Engine(source, policy, sink, names=NAMES, clock=clock, period_s=PERIOD, stale_after_s=STALE)
    engine.start()
    return engine


def run_cycles(engine: Engine, clock: FakeClock, n: int) -> list[CycleResult]:
    results = []
    for _ in range(n):
        results.append(engine.cycle())
        clock.advance(PERIOD)
    return results


def test_good_readings_publish_the_policy_limits(clock, source, policy, sink):
    engine = make_engine(clock, source, policy, sink)
    run_cycles(engine, clock, 3)
    assert sink.limits == [policy.limits] * 3
    assert all(reading is not None for reading, _ in sink.published)


@pytest.mark.parametrize(
    "error",
    [
        SourceTimeout("no reply"),
        FrameError("bad checksum"),
        RuntimeError("plugin bug"),
        SourceUnavailable("gone"),
    ],
    ids=["timeout", "frame", "bug", "unavailable"],
)
def test_source_failure_gives_stop_within_stale_after_plus_one_period(clock, policy, sink, error):
    source = FakeSource(clock, [make_reading(clock)], default=error)
    engine = make_engine(clock, source, policy, sink)
    results = run_cycles(engine, clock, 10)
    first_stop = next(i for i, r in enumerate(results) if r.limits.fault is not None)
    # the last good reading was taken at cycle 0; stop must come within stale_after + one period
    assert first_stop * PERIOD <= STALE + PERIOD
    assert results[first_stop].limits.fault is Fault.STALE_READING
    # inside stale_after the policy decides again on the last good reading
    assert all(r.limits == policy.limits for r in results[:first_stop])
    # once stopped, never the old limits again, and still published every cycle
    after = sink.limits[first_stop:]
    assert after and all(limits.is_stop for limits in after)
    assert len(sink.published) == 10


def test_before_the_first_valid_reading_only_stop_limits_are_sent(clock, policy, sink):
    source = FakeSource(clock, default=SourceTimeout("no reply"))
    engine = make_engine(clock, source, policy, sink)
    results = run_cycles(engine, clock, 3)
    assert [r.limits.fault for r in results] == [Fault.NO_READING] * 3
    assert all(reading is None and limits.is_stop for reading, limits in sink.published)
    assert policy.states == []


def test_stale_reading_returned_by_a_source_is_refused(clock, policy, sink):
    old = make_reading(clock)
    source = FakeSource(clock, default=old)  # a source that keeps returning a cached reading
    engine = make_engine(clock, source, policy, sink)
    results = run_cycles(engine, clock, 8)
    stops = [r.cycle for r in results if r.limits.fault is Fault.STALE_READING]
    assert stops and stops[0] <= STALE / PERIOD + 2
    assert all(lim.is_stop for lim in sink.limits[stops[0] - 1 :])


@pytest.mark.parametrize(
    "change",
    [
        {"cell_voltages_v": ()},
        {"cell_voltages_v": (3.3,) * 15 + (0.0,)},
        {"cell_voltages_v": (3.3,) * 15 + (4.9,)},
        {"voltage_v": 80.0},
        {"soc_pct": 140.0},
        {"temperatures_c": (20.0, 300.0)},
    ],
    ids=["no-cells", "zero-cell", "cell-too-high", "pack-disagrees", "soc", "temperature"],
)
def test_implausible_reading_stops_at_once_and_never_reuses_the_old_one(clock, policy, sink, change):
    good = [make_reading(clock)]
    source = FakeSource(clock, good, default=lambda: replace(make_reading(clock), **change))
    engine = make_engine(clock, source, policy, sink)
    results = run_cycles(engine, clock, 3)
    assert results[0].limits == policy.limits
    assert [r.limits.fault for r in results[1:]] == [Fault.IMPLAUSIBLE_READING] * 2
    assert results[1].problems and "implausible" in results[1].problems[0].message


def test_an_implausible_reading_discards_the_last_good_one(clock, policy, sink):
    source = FakeSource(
        clock, [make_reading(clock), lambda: make_reading(clock, soc_pct=140.0), SourceTimeout("no reply")]
    )
    results = run_cycles(make_engine(clock, source, policy, sink), clock, 3)
    assert results[0].limits == policy.limits
    assert results[1].limits.fault is Fault.IMPLAUSIBLE_READING
    # the failed read right after must not fall back on the reading from before the implausible one
    assert results[2].limits.fault is Fault.NO_READING and results[2].limits.is_stop


def test_reading_from_the_future_is_implausible(clock, policy, sink):
    source = FakeSource(clock, default=lambda: make_reading(clock, taken_at_s=clock.now() + 100))
    engine = make_engine(clock, source, policy, sink)
    assert engine.cycle().limits.fault is Fault.IMPLAUSIBLE_READING


def test_policy_error_gives_stop_at_once_with_the_reason(clock, source, policy, sink):
    engine = make_engine(clock, source, policy, sink)
    run_cycles(engine, clock, 2)
    policy.fail_with = ZeroDivisionError("ladder broke")
    result = engine.cycle()
    assert result.limits.fault is Fault.POLICY_ERROR
    assert "ladder broke" in result.limits.reasons[0]
    assert sink.limits[-1].is_stop
    policy.fail_with = None
    clock.advance(PERIOD)
    assert engine.cycle().limits == policy.limits


def test_policy_returning_garbage_is_a_policy_error(clock, source, sink):
    policy = FixedPolicy()
    policy.limits = "60 A please"  # type: ignore[assignment]
    engine = make_engine(clock, source, policy, sink)
    assert engine.cycle().limits.fault is Fault.POLICY_ERROR


def test_slow_source_is_late_and_gives_stop(clock, policy, sink):
    def slow():
        reading = make_reading(clock)
        clock.advance(0.9 * PERIOD)  # past the lane deadline of 0.8 x period
        return reading

    source = FakeSource(clock, default=slow)
    engine = make_engine(clock, source, policy, sink)
    result = engine.cycle()
    assert result.limits.fault is Fault.TIMEOUT
    assert sink.limits == [result.limits]


def test_recovery_after_stale_releases_the_fail_safe(clock, policy, sink):
    source = FakeSource(clock, [SourceTimeout("x")] * 8)
    engine = make_engine(clock, source, policy, sink)
    results = run_cycles(engine, clock, 10)
    assert results[0].limits.fault is Fault.NO_READING
    assert results[-1].limits == policy.limits
    assert policy.states[0].previous is not None and policy.states[0].previous.is_stop


def test_source_unavailable_is_reopened_with_backoff(clock, policy, sink):
    source = FakeSource(clock, default=SourceUnavailable("port gone"))
    engine = make_engine(clock, source, policy, sink)
    source.open_error = SourceUnavailable("still gone")
    run_cycles(engine, clock, 40)
    # opened once at start, then retried after 1, 2, 4, 8, 16 s ... never every cycle
    assert 3 <= source.opened <= 7
    assert source.closed >= source.opened - 1
    source.open_error = None
    source.default = None
    results = run_cycles(engine, clock, 40)
    assert results[-1].limits == policy.limits


def test_failing_sink_is_retried_with_backoff_and_the_loop_keeps_its_period(clock, source, policy):
    sink = FakeSink(clock, fail_with=SinkUnavailable("bus-off"))
    engine = make_engine(clock, source, policy, sink)
    loop = GatewayLoop(engine, clock=clock, period_s=PERIOD, max_cycles=30)
    sink_failures = []
    loop._on_cycle = lambda r: sink_failures.append(not r.published)
    loop.run()
    assert len(sink_failures) == 30 and all(sink_failures)
    # 1 open at start + reopen attempts after backoff 1, 2, 4, 8, 16 s: far fewer than 30 cycles
    assert 3 <= sink.opened <= 7
    # the schedule stayed absolute: every sleep brought the next cycle onto the 1 s grid
    assert len(clock.sleeps) == 29
    assert all(abs(s - PERIOD) < 1e-9 for s in clock.sleeps)


def test_sink_recovers_and_publishes_again(clock, source, policy):
    sink = FakeSink(clock, fail_with=SinkUnavailable("bus-off"))
    engine = make_engine(clock, source, policy, sink)
    run_cycles(engine, clock, 3)
    sink.fail_with = None
    results = run_cycles(engine, clock, 5)
    assert results[-1].published
    assert sink.limits[-1] == policy.limits


def test_shutdown_publishes_stop_once_and_closes_everything(clock, source, policy, sink):
    loop = GatewayLoop(make_engine(clock, source, policy, sink), clock=clock, period_s=PERIOD, max_cycles=3)
    loop.run()
    assert len(sink.published) == 4
    reading, last = sink.published[-1]
    assert reading is None and last.fault is Fault.SHUTDOWN and last.is_stop
    assert sink.closed >= 1 and source.closed >= 1


def test_loop_skips_missed_slots_instead_of_bursting(clock, policy, sink):
    calls = {"n": 0}

    def sometimes_slow():
        calls["n"] += 1
        if calls["n"] == 3:
            clock.advance(2.5 * PERIOD)
        return make_reading(clock)

    source = FakeSource(clock, default=sometimes_slow)
    loop = GatewayLoop(make_engine(clock, source, policy, sink), clock=clock, period_s=PERIOD, max_cycles=6)
    loop.run()
    # cycle 3 started at t=2 s and ended at t=4.5 s: the slots at 3 s and 4 s are skipped, next at 5 s
    assert loop.skipped_slots == 2
    assert min(clock.sleeps) >= 0


def test_stop_limits_never_request_charge_or_discharge():
    stop = Limits.stop("x", Fault.NO_READING)
    assert stop.charge_current_a == 0 and stop.discharge_current_a == 0 and not stop.flags
    assert stop.charge_voltage_v is None and stop.discharge_voltage_v is None
