"""Banks: several packs as one battery, each decided on its own reading; fail-safe on the clock."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_core.bank import PackLimits, combine_limits, combine_readings
from gateway_core.engine import Engine, PluginNames, SinkSpec
from gateway_core.errors import SinkUnavailable, SourceTimeout
from gateway_core.lane import ThreadLane
from gateway_core.model import Fault, LimitFlag, Limits
from gateway_core.pack import PackSpec
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy, make_reading

PERIOD = 1.0
STALE = 5.0
NAMES = PluginNames("bank", "fixed", "sink")


def bank(clock, sources, policies, *, min_sources=0, mode="weakest", sinks=None, lanes=None) -> Any:
    specs = [
        PackSpec(f"pack{i + 1}", "fake", src, pol, "fixed", lanes[i] if lanes else None)
        for i, (src, pol) in enumerate(zip(sources, policies, strict=True))
    ]
    sinks = sinks or [FakeSink(clock)]
    engine = Engine(
        specs,
        None,
        [SinkSpec(f"sink{i + 1}", "fake", s) for i, s in enumerate(sinks)],
        names=NAMES,
        clock=clock,
        period_s=PERIOD,
        stale_after_s=STALE,
        min_sources=min_sources,
        bank_current=mode,
    )
    engine.start()
    return engine, sinks


def run(engine, clock, n) -> Any:
    results = []
    for _ in range(n):
        results.append(engine.cycle())
        clock.advance(PERIOD)
    return results


@pytest.fixture
def clock() -> Any:
    return FakeClock()


def two_packs(clock, **kw) -> Any:
    sources = [FakeSource(clock), FakeSource(clock)]
    policies = [FixedPolicy(50, 60), FixedPolicy(30, 80)]
    engine, sinks = bank(clock, sources, policies, **kw)
    return engine, sinks[0], sources, policies


def test_weakest_gives_packs_online_times_the_lowest_pack_limit(clock):
    engine, _sink, _, _ = two_packs(clock)
    result = run(engine, clock, 1)[0]
    assert (result.limits.charge_current_a, result.limits.discharge_current_a) == (60.0, 120.0)
    assert result.reading is not None and result.reading.pack_count == 2
    assert [p.online for p in result.packs] == [True, True]
    assert result.limits.reasons[0].startswith("bank: 2 of 2 packs online")


def test_sum_gives_the_sum_of_the_pack_limits(clock):
    engine, _sink, _, _ = two_packs(clock, mode="sum")
    result = run(engine, clock, 1)[0]
    assert (result.limits.charge_current_a, result.limits.discharge_current_a) == (80.0, 140.0)


def test_each_pack_is_decided_on_its_own_reading_by_its_own_policy(clock):
    engine, _, sources, policies = two_packs(clock)
    sources[1].default = lambda: make_reading(clock, cell_v=3.31, source_id="b")
    run(engine, clock, 2)
    assert [s.pack for s in policies[0].states] == ["pack1", "pack1"]
    assert [s.pack for s in policies[1].states] == ["pack2", "pack2"]


def test_a_lost_pack_with_min_sources_all_stops_within_stale_after_plus_a_period(clock):
    engine, _sink, sources, _ = two_packs(clock)
    run(engine, clock, 2)
    sources[1].default = SourceTimeout("silent")
    results = run(engine, clock, 8)
    stops = [r.cycle for r in results if r.limits.fault is not None]
    first_stop_after_loss = stops[0] - 3  # cycles since the pack went silent
    assert 1 <= first_stop_after_loss <= STALE / PERIOD + 1
    last = results[-1]
    assert last.limits.fault is Fault.STALE_READING and "pack2" in last.limits.reasons[0]
    assert last.limits.charge_current_a == last.limits.discharge_current_a == 0
    assert last.reading is None


def test_with_min_sources_one_the_bank_runs_on_the_rest_with_the_count_reduced(clock):
    engine, _sink, sources, _ = two_packs(clock, min_sources=1)
    sources[0].default = SourceTimeout("silent")
    results = run(engine, clock, 8)
    last = results[-1]
    assert last.limits.fault is None
    assert (last.limits.charge_current_a, last.limits.discharge_current_a) == (30.0, 80.0)
    assert last.reading is not None and last.reading.pack_count == 1
    assert [p.online for p in last.packs] == [False, True]


def test_a_pack_that_comes_back_is_included_again(clock):
    engine, _sink, sources, _ = two_packs(clock, min_sources=1)
    sources[0].default = SourceTimeout("silent")
    run(engine, clock, 8)
    sources[0].default = None
    result = run(engine, clock, 1)[0]
    assert result.reading is not None and result.reading.pack_count == 2
    assert result.limits.charge_current_a == 60.0


def test_an_implausible_pack_is_offline_at_once(clock):
    engine, _sink, sources, _ = two_packs(clock)
    run(engine, clock, 1)
    sources[1].default = lambda: make_reading(clock, cell_v=5.0)
    result = run(engine, clock, 1)[0]
    assert result.limits.fault is Fault.IMPLAUSIBLE_READING
    assert not result.packs[1].online and result.packs[0].online


def test_a_policy_error_on_one_pack_stops_the_bank(clock):
    engine, _sink, _, policies = two_packs(clock, min_sources=1)
    policies[0].fail_with = RuntimeError("bug")
    result = run(engine, clock, 1)[0]
    assert result.limits.fault is Fault.POLICY_ERROR and "pack1" in result.limits.reasons[0]


def test_a_hung_pack_delays_neither_the_others_nor_the_frames():
    clock = FakeClock()
    release = threading.Event()
    hung = FakeSource(clock, default=lambda: (release.wait(5), make_reading(clock))[1])
    good = FakeSource(clock)
    lanes = [ThreadLane("t1"), ThreadLane("t2")]
    engine, sinks = bank(clock, [hung, good], [FixedPolicy(), FixedPolicy()], min_sources=1, lanes=lanes)
    try:
        first = engine.cycle()  # the hung pack's lane waits 0.8 s of real time, the good pack is read
        second = engine.cycle()  # the hung lane is busy: no wait at all
    finally:
        release.set()
    assert first.limits.fault is None and first.reading is not None and first.reading.pack_count == 1
    assert not second.packs[0].online and second.packs[1].online
    assert len(sinks[0].published) == 2  # a frame set each cycle
    assert "busy" in second.packs[0].limits.reasons[0]


def test_two_sinks_get_every_set_and_a_broken_one_does_not_stop_the_other(clock):
    good, broken = FakeSink(clock), FakeSink(clock)
    broken.fail_with = SinkUnavailable("bus off")
    engine, _ = bank(clock, [FakeSource(clock)], [FixedPolicy()], sinks=[good, broken])
    results = run(engine, clock, 5)
    assert len(good.published) == 5 and broken.published == []
    assert all(not r.published and r.sinks[0].published and not r.sinks[1].published for r in results)


def test_the_combined_reading_follows_the_rules(clock):
    a = make_reading(
        clock, cells=16, cell_v=3.30, current_a=20.0, soc_pct=40.0, capacity_ah=100.0, soh_pct=97.0
    )
    b = make_reading(clock, cells=15, cell_v=3.40, current_a=-5.0, soc_pct=80.0, capacity_ah=300.0)
    bank_reading = combine_readings([PackLimits("a", a, Limits(1, 1)), PackLimits("b", b, Limits(1, 1))])
    assert bank_reading.voltage_v == pytest.approx((a.voltage_v + b.voltage_v) / 2)
    assert bank_reading.current_a == 15.0
    assert bank_reading.soc_pct == pytest.approx((40 * 100 + 80 * 300) / 400)
    assert bank_reading.soh_pct == 97.0 and bank_reading.capacity_ah == 400.0
    assert (bank_reading.min_cell_v, bank_reading.max_cell_v) == (3.30, 3.40)
    assert bank_reading.cell_count == 31 and bank_reading.cells_in_series == 15
    assert len(bank_reading.temperatures_c) == 4 and bank_reading.pack_count == 2


limit_values = st.floats(min_value=0, max_value=500, allow_nan=False)
flag_sets = st.sampled_from(
    [LimitFlag.NONE, LimitFlag.CHARGE, LimitFlag.DISCHARGE, LimitFlag.CHARGE | LimitFlag.DISCHARGE]
)


@st.composite
def pack_limits(draw):
    charge, discharge = draw(limit_values), draw(limit_values)
    flags = draw(flag_sets)
    if charge == 0:
        flags &= ~LimitFlag.CHARGE
    if discharge == 0:
        flags &= ~LimitFlag.DISCHARGE
    return Limits(charge, discharge, draw(st.floats(40, 60)), draw(st.floats(40, 50)), flags)


@given(st.lists(pack_limits(), min_size=1, max_size=8), st.sampled_from(["weakest", "sum"]))
def test_bank_limits_never_exceed_their_rule_and_keep_only_shared_requests(limits, mode):
    reading = make_reading(FakeClock())
    packs = [PackLimits(f"p{i}", reading, lim) for i, lim in enumerate(limits)]
    combined = combine_limits(packs, mode, len(packs) + 1)
    bound = (
        (
            len(limits) * min(x.charge_current_a for x in limits),
            len(limits) * min(x.discharge_current_a for x in limits),
        )
        if mode == "weakest"
        else (sum(x.charge_current_a for x in limits), sum(x.discharge_current_a for x in limits))
    )
    assert combined.charge_current_a <= bound[0] + 1e-9
    assert combined.discharge_current_a <= bound[1] + 1e-9
    for flag in (LimitFlag.CHARGE, LimitFlag.DISCHARGE):
        if any(flag not in x.flags for x in limits):
            assert flag not in combined.flags
    assert combined.charge_voltage_v == min(x.charge_voltage_v for x in limits)
    assert combined.discharge_voltage_v == max(x.discharge_voltage_v for x in limits)


def test_a_sink_that_stalls_the_cycle_leaves_the_next_sink_with_stop_limits_and_a_warning(caplog):
    clock = FakeClock()

    class SlowSink(FakeSink):
        def publish(self, reading, limits):
            report = super().publish(reading, limits)
            clock.advance(7.0)  # a jammed adapter: its send blocked for 7 s
            return report

    slow, after = SlowSink(clock), FakeSink(clock)
    engine, _ = bank(clock, [FakeSource(clock)], [FixedPolicy()], sinks=[slow, after])
    engine.cycle()
    assert slow.limits[0].fault is None  # sent in time
    assert after.limits[0].fault is not None and after.limits[0].charge_current_a == 0
    assert any("fail-safe at send time" in m for m in caplog.messages)
