"""Banks, charge control, the grid meter and obedience as metrics, scraped over real HTTP.

The results are built by hand with every new field filled in (the core fills them as it grows).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway_core.model import Fault, Limits, MeterReading, Problem, PublishReport, SinkResult
from tests.fakes import FakeClock

from .helpers import WALL_NOW, bank_result, make_observer, make_result, parse, rich_reading, scrape_http

BANK_SERIES = (
    "battery_gateway_pack_voltage_volts",
    "battery_gateway_pack_current_amperes",
    "battery_gateway_state_of_charge_percent",
    "battery_gateway_cell_voltage_min_volts",
    "battery_gateway_cell_voltage_max_volts",
)


def render(*results) -> str:
    clock = FakeClock()
    observer = make_observer(clock, opened=False, listen="", textfile="/nonexistent/x.prom")
    for result in results:
        observer.collector.update(result)
    return observer.render().decode()


def test_each_pack_gets_a_pack_label_beside_the_unlabelled_bank_series():
    clock = FakeClock()
    bank = rich_reading(clock)
    result = bank_result(clock, packs=("pack1", "pack2", "pack3"), offline=("pack3",), bank=bank)
    observer = make_observer(clock)
    try:
        observer.gateway_cycle_completed(result)
        m = scrape_http(observer)
    finally:
        observer.close()
    socs = {s.labels.get("pack", ""): s.value for s in m.samples if s.name == BANK_SERIES[2]}
    assert socs == {"": 73.5, "pack1": 60.0, "pack2": 61.0}  # pack3 is offline: no reading
    assert m.value("battery_gateway_pack_voltage_volts", pack="pack2") == 53.0
    assert [s.labels for s in m.samples if s.name == "battery_gateway_pack_current_amperes"] == [
        {},
        {"pack": "pack1"},
        {"pack": "pack2"},
    ]
    for name in BANK_SERIES:
        assert len([s for s in m.samples if s.name == name and "pack" not in s.labels]) == 1, name
    assert m.labelled("battery_gateway_pack_online", "pack") == {"pack1": 1.0, "pack2": 1.0, "pack3": 0.0}
    # the other series stay the bank's, unlabelled
    assert all("pack" not in s.labels for s in m.samples if s.name == "battery_gateway_cell_voltage_volts")


def test_a_single_source_has_no_pack_label_at_all():
    clock = FakeClock()
    m = parse(render(bank_result(clock, packs=("pack1",))))
    assert not [s for s in m.samples if "pack" in s.labels]
    assert "battery_gateway_pack_online" not in m.names


def test_a_bank_without_a_combined_reading_still_shows_the_packs_that_are_there():
    clock = FakeClock()
    stop = Limits.stop("bank: 1 of 2 packs online, 2 needed", Fault.NO_READING)
    result = replace(bank_result(clock, offline=("pack2",)), reading=None, limits=stop)
    m = parse(render(result))
    socs = {s.labels.get("pack", ""): s.value for s in m.samples if s.name == BANK_SERIES[2]}
    assert socs == {"pack1": 60.0}
    assert m.labelled("battery_gateway_pack_online", "pack") == {"pack1": 1.0, "pack2": 0.0}
    assert "battery_gateway_reported_state_of_charge_percent" not in m.names


def test_charge_state_is_a_state_set_and_the_reported_soc_sits_beside_the_bms_soc():
    clock = FakeClock()
    m = parse(render(bank_result(clock, packs=("pack1",))))
    assert m.labelled("battery_gateway_charge_state", "state") == {
        "bulk": 0.0,
        "absorption": 1.0,
        "float": 0.0,
    }
    assert m.value("battery_gateway_reported_state_of_charge_percent") == 98.0
    assert m.value("battery_gateway_state_of_charge_percent") == 73.5
    own = parse(render(bank_result(clock, packs=("pack1",), charge_state="topping", reported_soc_pct=None)))
    assert own.labelled("battery_gateway_charge_state", "state") == {
        "bulk": 0.0,
        "absorption": 0.0,
        "float": 0.0,
        "topping": 1.0,
    }
    assert own.value("battery_gateway_reported_state_of_charge_percent") == 73.5  # the BMS's, not set
    none = parse(render(bank_result(clock, packs=("pack1",), charge_state=None)))
    assert "battery_gateway_charge_state" not in none.names


def test_grid_power_with_phases_and_its_time_and_nothing_without_a_fresh_meter():
    clock = FakeClock()
    meter = MeterReading("em", clock.now() - 2.0, -1250.5, (-400.0, -450.0, -400.5))
    observer = make_observer(clock)
    try:
        observer.gateway_cycle_completed(bank_result(clock, meter=meter))
        m = scrape_http(observer)
        assert m.value("battery_gateway_grid_power_watts") == -1250.5
        assert m.labelled("battery_gateway_grid_phase_power_watts", "phase") == {
            "1": -400.0,
            "2": -450.0,
            "3": -400.5,
        }
        assert m.value("battery_gateway_grid_last_read_timestamp_seconds") == pytest.approx(WALL_NOW - 2.0)
        clock.advance(1.0)
        observer.gateway_cycle_completed(bank_result(clock, cycle=2, meter=None))  # stale: the core drops it
        later = scrape_http(observer)
    finally:
        observer.close()
    assert not {n for n in later.names if "grid" in n}
    assert all(s.value == s.value for s in later.samples)  # no NaN anywhere


def test_obedience_per_sink_and_a_counter_of_the_cycles_it_was_ignored():
    clock = FakeClock()
    results = [
        bank_result(clock, cycle=1),
        bank_result(clock, cycle=2, ignored_by=("inv2",)),
        bank_result(clock, cycle=3, ignored_by=("inv1", "inv2")),
        bank_result(clock, cycle=4),
        bank_result(clock, cycle=5, ignored_by=("inv1",)),
    ]
    m = parse(render(*results))
    assert m.value("battery_gateway_limits_ignored_cycles_total") == 3
    assert m.types["battery_gateway_limits_ignored_cycles"] == "counter"
    assert m.labelled("battery_gateway_inverter_ignores_limits", "sink") == {"inv1": 1.0, "inv2": 0.0}
    plain = parse(render(make_result(clock, reading=rich_reading(clock))))  # no sink reports
    assert plain.value("battery_gateway_limits_ignored_cycles_total") == 0
    assert "battery_gateway_inverter_ignores_limits" not in plain.names


def test_can_errors_count_sinks_that_could_not_publish_not_their_report_problems():
    clock = FakeClock()
    report_problem = Problem("sink", "inv1", "inverter silent on 0x305 for 12 s")
    lost = Problem("sink", "inv2", "SinkUnavailable: bus off")
    ok = SinkResult("inv1", "pylontech", True, PublishReport(6, problems=(report_problem.message,)))
    failed = SinkResult("inv2", "pylontech", False, None, (lost,))
    result = replace(bank_result(clock), sinks=(ok, failed), problems=(report_problem, lost))
    m = parse(render(result, replace(result, cycle=2)))
    assert m.value("battery_gateway_can_errors_total") == 2  # inv2, twice; never inv1's report
