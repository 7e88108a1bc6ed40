"""Property tests: bounds, monotonic charge limit while the top cell rises, stop conditions give 0."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import SourceTimeout
from gateway_core.model import Alarm, BatteryReading, GatewayState, LimitFlag
from limit_ladder.config import LadderConfig
from limit_ladder.policy import LadderMemory, LadderPolicy, decide
from tests.fakes import FakeClock, FakeSink, FakeSource, make_reading

from .helpers import Runner

cell = st.floats(2.5, 3.7, allow_nan=False)


@st.composite
def readings(draw: st.DrawFn, t: float = 0.0) -> BatteryReading:
    """Any plausible reading: cells, SOC, current, probes (maybe none), alarms, MOSFETs, BMS caps."""
    cells = tuple(draw(st.lists(cell, min_size=4, max_size=24)))
    return BatteryReading(
        source_id="prop",
        taken_at_s=t,
        voltage_v=round(sum(cells), 3),
        current_a=draw(st.floats(-200, 200)),
        soc_pct=draw(st.floats(0, 100)),
        cell_voltages_v=cells,
        temperatures_c=tuple(draw(st.lists(st.floats(-40, 90), max_size=4))),
        alarms=frozenset(draw(st.sets(st.sampled_from(list(Alarm)), max_size=3))),
        charge_enabled=draw(st.booleans()),
        discharge_enabled=draw(st.booleans()),
        bms_charge_current_limit_a=draw(st.none() | st.floats(0, 300)),
        bms_discharge_current_limit_a=draw(st.none() | st.floats(0, 300)),
    )


configs = st.builds(
    LadderConfig,
    max_charge_current=st.floats(0, 200),
    max_discharge_current=st.floats(0, 200),
    ramp_a_per_s=st.sampled_from([0.0, 1.0, 5.0]),
    oscillation_factor=st.floats(0.05, 0.95),
)


@given(st.lists(readings(), min_size=1, max_size=8), configs, st.floats(0.5, 30.0))
def test_limits_stay_within_zero_and_every_cap(
    history: list[BatteryReading], config: LadderConfig, dt: float
) -> None:
    run = Runner(config)
    for i, reading in enumerate(history):
        t = i * dt
        from dataclasses import replace

        limits = run.at(t, replace(reading, taken_at_s=t))
        charge_cap = config.max_charge_current
        discharge_cap = config.max_discharge_current
        if reading.bms_charge_current_limit_a is not None:
            charge_cap = min(charge_cap, reading.bms_charge_current_limit_a)
        if reading.bms_discharge_current_limit_a is not None:
            discharge_cap = min(discharge_cap, reading.bms_discharge_current_limit_a)
        assert 0 <= limits.charge_current_a <= charge_cap
        assert 0 <= limits.discharge_current_a <= discharge_cap
        assert (LimitFlag.CHARGE in limits.flags) == (limits.charge_current_a > 0)
        assert (LimitFlag.DISCHARGE in limits.flags) == (limits.discharge_current_a > 0)
        assert limits.reasons


@given(
    st.lists(st.floats(0.0, 0.05), min_size=2, max_size=30),
    st.floats(3.00, 3.3),
    st.floats(0, 100),
    st.floats(0.1, 5000),
)
def test_charge_limit_never_rises_while_the_highest_cell_rises(
    steps: list[float], start: float, soc: float, dt: float
) -> None:
    """From the top step with full current (3.00 V) upward the ladder only ever steps down."""
    run = Runner()
    high = start
    last = None
    for i, step in enumerate(steps):
        high = min(4.2, high + step)
        amps = run.at(i * dt, high=high, low=3.0, soc=soc).charge_current_a
        assert last is None or amps <= last
        last = amps


stop_kinds = st.sampled_from(["charge_mosfet", "discharge_mosfet", "cold", "hot", "no_probe", "old"])


@given(st.lists(readings(), max_size=5), readings(), stop_kinds)
def test_stop_conditions_always_give_zero(
    history: list[BatteryReading], final: BatteryReading, kind: str
) -> None:
    from dataclasses import replace

    run = Runner()
    for i, reading in enumerate(history):
        run.at(float(i), replace(reading, taken_at_s=float(i)))
    now = float(len(history))
    final = replace(final, taken_at_s=now)
    if kind == "charge_mosfet":
        final = replace(final, charge_enabled=False)
    elif kind == "discharge_mosfet":
        final = replace(final, discharge_enabled=False)
    elif kind == "cold":
        final = replace(final, temperatures_c=(*final.temperatures_c, -0.5))
    elif kind == "hot":
        final = replace(final, temperatures_c=(*final.temperatures_c, 50.5))
    elif kind == "no_probe":
        final = replace(final, temperatures_c=())
    elif kind == "old":
        final = replace(final, taken_at_s=now - 31.0)
    limits, _ = decide(final, run.memory, GatewayState(now, 99, run.previous), run.config)
    if kind == "discharge_mosfet":
        assert limits.discharge_current_a == 0
    else:
        assert limits.charge_current_a == 0
    if kind == "old":
        assert limits.discharge_current_a == 0


@settings(max_examples=30, deadline=None)
@given(st.floats(5.01, 60.0), st.floats(3.0, 3.4))
def test_stale_reading_never_reaches_the_bus_with_current(age: float, high: float) -> None:
    """Through the real engine: once the last good reading is older than stale_after, 0 A goes out."""
    clock = FakeClock()
    source = FakeSource(clock, [make_reading(clock, cell_v=high)], default=SourceTimeout("no reply"))
    sink = FakeSink(clock)
    engine = Engine(
        source,
        LadderPolicy(LadderConfig()),
        sink,
        names=PluginNames("fake", "limit_ladder", "fake"),
        clock=clock,
    )
    engine.start()
    assert engine.cycle().limits.charge_current_a > 0
    clock.advance(age)
    result = engine.cycle()
    assert (result.limits.charge_current_a, result.limits.discharge_current_a) == (0, 0)
    assert sink.limits[-1].fault is not None


def test_memory_is_a_value() -> None:
    """decide() never mutates the memory it was given."""
    memory = LadderMemory()
    reading = make_reading(None, cell_v=3.56)
    decide(reading, memory, GatewayState(0.0, 1), LadderConfig())
    assert memory == LadderMemory()


state_configs = st.builds(
    LadderConfig,
    charge_voltage_per_cell=st.floats(3.40, 3.65),
    float_voltage_per_cell=st.floats(3.31, 3.39),
    cell_target_v=st.floats(3.40, 3.70),
    reported_soc_max=st.floats(50, 100),
    absorption_hold_s=st.sampled_from([0.0, 5.0, 900.0]),
    absorption_tail_current=st.floats(0, 50),
    absorption_max_delta_v=st.floats(0, 0.2),
    rebulk_below_soc=st.floats(0, 100),
)


@st.composite
def near_full(draw: st.DrawFn, n: int) -> BatteryReading:
    """A pack near the top of its charge (where the states change), any spread, current and SOC."""
    base = draw(st.floats(3.25, 3.62))
    cells = tuple(round(base + draw(st.floats(0, 0.12)), 3) for _ in range(n))
    return BatteryReading(
        source_id="prop",
        taken_at_s=0.0,
        voltage_v=round(sum(cells), 3),
        current_a=draw(st.floats(-50, 100)),
        soc_pct=draw(st.floats(0, 100)),
        cell_voltages_v=cells,
        temperatures_c=(20.0,),
    )


@settings(max_examples=200)
@given(
    st.sampled_from([4, 8, 16]).flatmap(lambda n: st.lists(near_full(n), min_size=1, max_size=25)),
    state_configs,
    st.lists(st.floats(0.5, 2000.0), min_size=25, max_size=25),
)
def test_cvl_stays_between_float_and_absorption_and_the_soc_sent_is_capped_until_float(
    history: list[BatteryReading], config: LadderConfig, gaps: list[float]
) -> None:
    from dataclasses import replace

    run = Runner(config)
    t = 0.0
    for reading, gap in zip(history, gaps, strict=False):
        t += gap
        limits = run.at(t, replace(reading, taken_at_s=t))
        cells = reading.cell_count
        assert limits.charge_voltage_v is not None and limits.reported_soc_pct is not None
        assert limits.charge_voltage_v <= config.charge_voltage_per_cell * cells + 1e-9
        float_v = config.float_voltage_per_cell * cells
        assert limits.charge_voltage_v >= float_v - 0.001  # whole millivolts, rounded down
        assert limits.charge_state in ("bulk", "absorption", "float")
        assert 0 <= limits.reported_soc_pct <= 100
        if limits.charge_state == "float":
            assert limits.reported_soc_pct == 100
            assert limits.charge_voltage_v == pytest.approx(float_v, abs=0.001)
        else:
            assert limits.reported_soc_pct <= min(config.reported_soc_max, reading.soc_pct)
