"""The /metrics endpoint over real HTTP, parsed with prometheus_client's text parser."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY, generate_latest

from gateway_core.model import Alarm, Fault, Problem
from tests.fakes import FakeClock

from .helpers import WALL_NOW, make_observer, make_result, rich_reading, scrape_http, stop_result


def test_scraped_values_equal_the_simulated_reading() -> None:
    clock = FakeClock(5000.0)
    reading = rich_reading(clock)
    clock.advance(0.5)
    observer = make_observer(clock)
    try:
        observer.gateway_cycle_completed(
            make_result(clock, cycle=7, reading=reading, peer_seen_at_s=clock.now() - 3)
        )
        clock.advance(0.25)  # the scrape happens a little later than the cycle
        m = scrape_http(observer)
    finally:
        observer.close()

    assert m.value("battery_gateway_pack_voltage_volts") == reading.voltage_v
    assert m.value("battery_gateway_pack_current_amperes") == reading.current_a
    assert m.value("battery_gateway_pack_power_watts") == reading.power_w
    assert m.value("battery_gateway_state_of_charge_percent") == reading.soc_pct
    assert m.value("battery_gateway_state_of_health_percent") == reading.soh_pct
    cells = m.labelled("battery_gateway_cell_voltage_volts", "cell")
    assert cells == {str(i + 1): v for i, v in enumerate(reading.cell_voltages_v)}
    assert m.value("battery_gateway_cell_voltage_min_volts") == reading.min_cell_v
    assert m.value("battery_gateway_cell_voltage_max_volts") == reading.max_cell_v
    assert m.value("battery_gateway_cell_voltage_delta_volts") == reading.cell_delta_v
    assert m.labelled("battery_gateway_temperature_celsius", "sensor") == {
        "battery_1": 18.5,
        "battery_2": 19.25,
        "battery_3": 20.0,
        "mosfet": 31.5,
    }
    alarms = m.labelled("battery_gateway_alarm_active", "alarm")
    assert alarms == {a.value: float(a in reading.alarms) for a in Alarm}
    assert m.value("battery_gateway_bms_charge_enabled") == 1.0
    assert m.value("battery_gateway_bms_discharge_enabled") == 0.0
    assert m.value("battery_gateway_bms_cycle_count") == 42
    assert m.value("battery_gateway_capacity_ampere_hours") == 280.0

    assert m.labelled("battery_gateway_limit_current_amperes", "direction") == {
        "charge": 50.0,
        "discharge": 60.0,
    }
    assert m.labelled("battery_gateway_limit_voltage_volts", "direction") == {
        "charge": 55.2,
        "discharge": 50.4,
    }
    assert m.labelled("battery_gateway_limit_request", "flag") == {
        "charge": 1.0,
        "discharge": 1.0,
        "force_charge": 0.0,
        "full_charge": 0.0,
    }
    assert m.value("battery_gateway_failsafe_active") == 0.0
    assert set(m.labelled("battery_gateway_failsafe", "reason").values()) == {0.0}

    assert m.value("battery_gateway_cycles_total") == 7
    assert m.types["battery_gateway_cycles"] == "counter"
    assert m.types["battery_gateway_read_errors"] == "counter"
    assert m.types["battery_gateway_can_errors"] == "counter"
    assert m.types["battery_gateway_pack_voltage_volts"] == "gauge"
    # wall = wall_now - (monotonic_now - t), taken when scraped: the reading is 0.75 s old.
    assert m.value("battery_gateway_last_read_timestamp_seconds") == pytest.approx(WALL_NOW - 0.75)
    assert m.value("battery_gateway_last_publish_timestamp_seconds") == pytest.approx(WALL_NOW - 0.25 + 0.02)
    assert m.value("battery_gateway_inverter_last_seen_timestamp_seconds") == pytest.approx(WALL_NOW - 3.25)
    assert m.value("battery_gateway_cycle_duration_seconds") == 0.02
    build = m.value(
        "battery_gateway_build_info", source="fake_source", policy="fake_policy", sink="fake_sink"
    )
    assert build == 1.0


def test_failsafe_reason_errors_and_missing_reading() -> None:
    clock = FakeClock()
    observer = make_observer(clock)
    try:
        observer.gateway_cycle_completed(make_result(clock, cycle=1, reading=rich_reading(clock)))
        clock.advance(1)
        problems = (
            Problem("source", "jk_uart", "timeout"),
            Problem("sink", "pylontech", "bus off"),
            Problem("sink", "pylontech", "again"),
            Problem("policy", "limit_ladder", "ignored here"),
        )
        stop = stop_result(clock, Fault.STALE_READING, cycle=2)
        observer.gateway_cycle_completed(
            make_result(clock, cycle=2, limits=stop.limits, published=False, problems=problems)
        )
        m = scrape_http(observer)
    finally:
        observer.close()
    assert m.value("battery_gateway_failsafe_active") == 1.0
    reasons = m.labelled("battery_gateway_failsafe", "reason")
    assert reasons == {f.value: float(f is Fault.STALE_READING) for f in Fault}
    assert m.labelled("battery_gateway_limit_current_amperes", "direction") == {
        "charge": 0.0,
        "discharge": 0.0,
    }
    assert "battery_gateway_limit_voltage_volts" not in m.names  # stop limits send no voltages
    assert set(m.labelled("battery_gateway_limit_request", "flag").values()) == {0.0}
    assert m.value("battery_gateway_read_errors_total") == 1
    assert m.value("battery_gateway_can_errors_total") == 2
    # No reading backs the limits: the pack metrics disappear, the last read time stays.
    assert "battery_gateway_pack_voltage_volts" not in m.names
    assert "battery_gateway_cell_voltage_volts" not in m.names
    assert m.value("battery_gateway_last_read_timestamp_seconds") == pytest.approx(WALL_NOW - 1)
    assert m.value("battery_gateway_last_publish_timestamp_seconds") == pytest.approx(WALL_NOW - 1 + 0.02)


def test_before_the_first_cycle_only_build_info_and_counters() -> None:
    observer = make_observer(FakeClock())
    try:
        observer.open()
        m = scrape_http(observer)
    finally:
        observer.close()
    assert m.names == {
        "battery_gateway_build_info",
        "battery_gateway_cycles_total",
        "battery_gateway_read_errors_total",
        "battery_gateway_can_errors_total",
        "battery_gateway_limits_ignored_cycles_total",
    }


def test_each_observer_has_its_own_registry_and_never_touches_the_global_one() -> None:
    clock = FakeClock()
    first, second = make_observer(clock), make_observer(clock)
    try:
        first.gateway_cycle_completed(make_result(clock, reading=rich_reading(clock, soc_pct=10.0)))
        second.gateway_cycle_completed(make_result(clock, reading=rich_reading(clock, soc_pct=90.0)))
        assert scrape_http(first).value("battery_gateway_state_of_charge_percent") == 10.0
        assert scrape_http(second).value("battery_gateway_state_of_charge_percent") == 90.0
    finally:
        first.close()
        second.close()
    assert b"battery_gateway" not in generate_latest(REGISTRY)


def test_close_is_idempotent_and_stops_the_endpoint() -> None:
    clock = FakeClock()
    observer = make_observer(clock)
    observer.gateway_cycle_completed(make_result(clock))
    address = observer.address
    assert address is not None
    observer.close()
    observer.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=2)
    observer.gateway_cycle_completed(make_result(clock, cycle=2))  # after close: nothing restarts
    assert observer.address is None


def test_empty_listen_serves_nothing() -> None:
    clock = FakeClock()
    observer = make_observer(clock, listen="", textfile="/nonexistent-dir/x.prom", textfile_interval=5.0)
    observer.open()
    assert observer.address is None
    observer.close()
