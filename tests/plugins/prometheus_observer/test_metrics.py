"""The pure part: folding results into state, and state into metric families."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from gateway_core.model import BatteryReading, Fault, Limits, Problem
from prometheus_observer.metrics import GatewayCollector, MetricsState, advance, families, make_registry
from tests.fakes import FakeClock

from .helpers import make_result, parse, rich_reading, stop_result


def test_advance_counts_problems_by_role_and_follows_the_cycle_number() -> None:
    clock = FakeClock()
    state = MetricsState()
    state = advance(state, make_result(clock, cycle=1, problems=[Problem("source", "jk", "timeout")]))
    state = advance(
        state,
        make_result(
            clock, cycle=5, problems=[Problem("sink", "pylontech", "x"), Problem("engine", "lane", "late")]
        ),
    )
    assert (state.cycles, state.read_errors, state.can_errors) == (5, 1, 1)


def test_last_read_is_the_newest_reading_and_last_publish_needs_a_publish() -> None:
    clock = FakeClock(100.0)
    reading = rich_reading(clock)
    clock.advance(1)
    state = advance(MetricsState(), make_result(clock, reading=reading))
    assert state.last_read_s == 100.0
    assert state.last_publish_s == 101.02
    clock.advance(1)
    # Same last-good reading again (source failed), and the sink failed: nothing moves forward.
    state = advance(state, make_result(clock, cycle=2, reading=reading, published=False))
    assert state.last_read_s == 100.0
    assert state.last_publish_s == 101.02
    state = advance(state, stop_result(clock, cycle=3))
    assert state.last_read_s == 100.0
    assert state.last_publish_s == 102.02


def test_timestamps_are_converted_at_export_time() -> None:
    clock = FakeClock(500.0)
    state = advance(MetricsState(), make_result(clock, reading=rich_reading(clock)))
    samples = {
        sample.name: sample.value
        for family in families(state, monotonic_now=510.0, wall_now=2_000_000.0, build={})
        for sample in family.samples
    }
    assert samples["battery_gateway_last_read_timestamp_seconds"] == 1_999_990.0
    assert samples["battery_gateway_last_publish_timestamp_seconds"] == pytest.approx(1_999_990.02)


def test_collector_renders_nothing_for_a_missing_optional_field() -> None:
    clock = FakeClock()
    collector = GatewayCollector(clock.now, lambda: 1e9)
    reading = rich_reading(
        clock, cycle_count=None, capacity_ah=None, bms_temperature_c=None, temperatures_c=()
    )
    collector.update(make_result(clock, reading=reading))
    m = parse(generate_latest(make_registry(collector)).decode())
    assert "battery_gateway_bms_cycle_count" not in m.names
    assert "battery_gateway_capacity_ampere_hours" not in m.names
    assert "battery_gateway_temperature_celsius" not in m.names
    assert "battery_gateway_inverter_last_seen_timestamp_seconds" not in m.names


volts = st.floats(min_value=0.5, max_value=4.5, allow_nan=False)


@st.composite
def readings(draw: st.DrawFn) -> BatteryReading:
    cells = tuple(draw(st.lists(volts, min_size=1, max_size=32)))
    return rich_reading(
        FakeClock(),
        cell_voltages_v=cells,
        voltage_v=draw(st.floats(min_value=0, max_value=100)),
        current_a=draw(st.floats(min_value=-500, max_value=500)),
        soc_pct=draw(st.floats(min_value=0, max_value=100)),
        temperatures_c=tuple(draw(st.lists(st.floats(min_value=-40, max_value=120), max_size=8))),
    )


@settings(max_examples=60, deadline=None)
@given(reading=readings(), fault=st.sampled_from([None, *Fault]))
def test_any_reading_round_trips_through_the_text_format(
    reading: BatteryReading, fault: Fault | None
) -> None:
    clock = FakeClock()
    collector = GatewayCollector(clock.now, lambda: 1e9)
    limits = Limits.stop("x", fault) if fault is not None else Limits(1.0, 2.0)
    collector.update(make_result(clock, reading=reading, limits=limits))
    m = parse(generate_latest(make_registry(collector)).decode())
    assert m.value("battery_gateway_pack_voltage_volts") == reading.voltage_v
    assert m.value("battery_gateway_pack_current_amperes") == reading.current_a
    assert m.value("battery_gateway_pack_power_watts") == reading.power_w
    assert m.labelled("battery_gateway_cell_voltage_volts", "cell") == {
        str(i + 1): v for i, v in enumerate(reading.cell_voltages_v)
    }
    assert m.value("battery_gateway_cell_voltage_delta_volts") == reading.cell_delta_v
    temps = m.labelled("battery_gateway_temperature_celsius", "sensor")
    assert [temps[f"battery_{i + 1}"] for i in range(len(reading.temperatures_c))] == list(
        reading.temperatures_c
    )
    reasons = m.labelled("battery_gateway_failsafe", "reason")
    assert {k for k, v in reasons.items() if v == 1.0} == ({fault.value} if fault else set())
    assert m.value("battery_gateway_failsafe_active") == float(fault is not None)
