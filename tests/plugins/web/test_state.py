"""The pure parts: the /api/state document, the decoded frames and the minute history."""

from __future__ import annotations

import struct
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_core.model import (
    Fault,
    Limits,
    MeterReading,
    PackResult,
    Problem,
    PublishReport,
    SentFrame,
    SinkResult,
)
from tests.fakes import FakeClock, make_reading
from web import frames as frames_module
from web.frames import frame_records, pylontech_decoder
from web.history import CAPACITY, MINUTE_S, MinuteHistory, history_doc
from web.state import state_doc

from .helpers import ALLOW, make_result, pylontech_sink, rich_reading, stop_result


def test_the_document_holds_the_reading_the_limits_and_their_reasons() -> None:
    clock = FakeClock(5000.0)
    reading = rich_reading(clock)
    clock.advance(0.25)
    doc = state_doc(
        make_result(clock, cycle=7, reading=reading, peer_seen_at_s=clock.now() - 2.0), period_s=1.0
    )

    r = doc["reading"]
    assert r["voltage_v"] == reading.voltage_v and r["current_a"] == reading.current_a
    assert r["power_w"] == reading.voltage_v * reading.current_a
    assert r["soc_pct"] == 73.4 and r["soh_pct"] == 97.0
    assert r["cell_voltages_v"] == list(reading.cell_voltages_v)
    assert (r["max_cell"], r["max_cell_v"], r["min_cell"], r["min_cell_v"]) == (16, 3.315, 1, 3.300)
    assert r["cell_delta_v"] == reading.cell_delta_v
    assert r["temperatures_c"] == [18.5, 19.25, 20.0] and r["bms_temperature_c"] == 31.5
    assert r["alarms"] == ["low_capacity"]
    assert r["age_s"] == pytest.approx(0.27)  # taken 0.25 s before the cycle, which lasted 0.02 s
    assert doc["limits"] == {
        "charge_current_a": 50.0,
        "discharge_current_a": 60.0,
        "charge_voltage_v": 55.2,
        "discharge_voltage_v": 50.4,
        "flags": ["charge", "discharge"],
        "reasons": list(ALLOW.reasons),
        "fault": None,
        "reported_soc_pct": None,
        "charge_state": "bulk",
    }
    assert doc["reported_soc_pct"] == 73.4  # the policy left it to the reading
    assert doc["failsafe"] is None
    assert doc["cycle"] == 7 and doc["period_s"] == 1.0
    assert doc["inverter"]["seen_age_s"] == pytest.approx(2.02)
    assert doc["plugins"] == {"source": "jk_uart", "policy": "limit_ladder", "sink": "pylontech"}


def test_the_soc_told_to_the_inverter_is_the_policys_when_it_decides_one() -> None:
    clock = FakeClock()
    limits = Limits(10.0, 10.0, reported_soc_pct=98.0, reasons=("soc held at 98 % until float",))
    doc = state_doc(
        make_result(clock, reading=rich_reading(clock, soc_pct=100.0), limits=limits), period_s=1.0
    )
    assert doc["reading"]["soc_pct"] == 100.0
    assert doc["reported_soc_pct"] == 98.0


def test_stop_limits_fill_the_failsafe_entry_with_fault_and_reason() -> None:
    clock = FakeClock()
    doc = state_doc(stop_result(clock, reason="no reading for 6.0 s (stale after 5 s)"), period_s=1.0)
    assert doc["failsafe"] == {
        "fault": "stale_reading",
        "reasons": ["no reading for 6.0 s (stale after 5 s)"],
    }
    assert doc["reading"] is None and doc["reported_soc_pct"] is None
    assert doc["limits"]["charge_current_a"] == 0.0 and doc["limits"]["flags"] == []


def test_problems_packs_meter_and_the_obedience_warning() -> None:
    clock = FakeClock()
    reading = rich_reading(clock)
    pack_limits = Limits(20.0, 30.0, reasons=("pack2: charge 20 A",))
    packs = (
        PackResult("pack1", "jk_uart", True, reading, ALLOW),
        PackResult("pack2", "jk_uart", False, None, pack_limits, (Problem("source", "pack2", "no reply"),)),
    )
    sink = pylontech_sink(
        reading, ALLOW, limits_ignored=True, problems=("inverter charges 80 A above the 50 A limit",)
    )
    result = make_result(
        clock,
        reading=reading,
        packs=packs,
        sinks=(sink,),
        problems=(Problem("source", "pack2", "no reply"),),
        meter=MeterReading("sma_em", clock.now() - 1, -1500.0, (-500.0, -500.0, -500.0)),
        meter_age_s=1.0,
    )
    doc = state_doc(result, period_s=1.0)

    assert doc["problems"] == [{"role": "source", "plugin": "pack2", "message": "no reply"}]
    assert [p["name"] for p in doc["packs"]] == ["pack1", "pack2"]
    assert doc["packs"][1]["online"] is False and doc["packs"][1]["reading"] is None
    assert doc["packs"][1]["limits"]["reasons"] == ["pack2: charge 20 A"]
    assert doc["packs"][1]["problems"][0]["message"] == "no reply"
    assert doc["meter"]["grid_power_w"] == -1500.0 and doc["meter"]["age_s"] == 1.0
    assert doc["inverter"]["limits_ignored"] is True
    assert doc["inverter"]["warnings"] == ["pylontech: inverter charges 80 A above the 50 A limit"]


def test_pylontech_frames_are_decoded_and_agree_with_struct() -> None:
    clock = FakeClock()
    reading = rich_reading(clock)
    doc = state_doc(
        make_result(clock, reading=reading, sinks=(pylontech_sink(reading, ALLOW),)), period_s=1.0
    )
    (sink,) = doc["sinks"]
    by_id = {frame["id"]: frame for frame in sink["frames"]}
    assert list(by_id) == ["0x351", "0x355", "0x356", "0x359", "0x35C", "0x35E"]
    limits = by_id["0x351"]
    cvl, ccl, dcl, dvl = struct.unpack("<HhhH", bytes.fromhex(limits["data"]))  # an independent decode
    assert limits["name"] == "BatteryLimits"
    assert limits["signals"]["charge_voltage_limit_v"] == cvl / 10 == 55.2
    assert limits["signals"]["charge_current_limit_a"] == ccl / 10 == 50.0
    assert limits["signals"]["discharge_current_limit_a"] == dcl / 10 == 60.0
    assert limits["signals"]["discharge_voltage_limit_v"] == dvl / 10 == 50.4
    assert limits["summary"] == "CVL 55.2 V  CCL 50.0 A  DCL 60.0 A  DVL 50.4 V"
    soc, soh = struct.unpack("<HH", bytes.fromhex(by_id["0x355"]["data"]))
    assert by_id["0x355"]["summary"] == f"SOC {soc} %  SOH {soh} %" == "SOC 73 %  SOH 97 %"
    assert by_id["0x35E"]["summary"] == "'PYLON'"


def test_frames_of_another_sink_or_without_the_decoder_are_shown_in_hex(monkeypatch) -> None:
    frames = (SentFrame(0x351, bytes.fromhex("2802f4015802f801")), SentFrame(0x18FF50E5, b"\x01\x02", True))
    other = frame_records(frames, None)
    assert [(f["id"], f["data"], f["name"], f["signals"]) for f in other] == [
        ("0x351", "28 02 F4 01 58 02 F8 01", None, None),
        ("0x18FF50E5", "01 02", None, None),
    ]
    decoded = frame_records(frames, pylontech_decoder())
    assert decoded[0]["name"] == "BatteryLimits" and decoded[1]["signals"] is None  # extended: not Pylontech

    clock = FakeClock()
    foreign = SinkResult("victron", "victron_can", True, PublishReport(2, frames=frames))
    doc = state_doc(make_result(clock, reading=make_reading(clock), sinks=(foreign,)), period_s=1.0)
    assert doc["sinks"][0]["frames"] == other  # never decoded as Pylontech

    pylontech_decoder.cache_clear()
    monkeypatch.setitem(sys.modules, "pylontech_can.decode", None)  # the plugin is not installed
    try:
        assert frames_module.pylontech_decoder() is None
        result = make_result(
            clock, sinks=(SinkResult("pylontech", "pylontech", True, PublishReport(2, frames=frames)),)
        )
        assert state_doc(result, period_s=1.0)["sinks"][0]["frames"] == other
    finally:
        pylontech_decoder.cache_clear()


def test_an_undecodable_pylontech_frame_says_why() -> None:
    (record,) = frame_records((SentFrame(0x351, b"\x28"),), pylontech_decoder())
    assert record["signals"] is None and "too few" in record["summary"]


def minute_result(clock: FakeClock, voltage: float, current: float, cycle: int):
    reading = make_reading(clock, voltage_v=voltage, current_a=current, cell_v=voltage / 16)
    return make_result(clock, cycle=cycle, reading=reading)


def test_history_keeps_one_point_a_minute_with_means_and_extremes() -> None:
    clock = FakeClock(600.0)  # minute 10 starts at 600 s
    history = MinuteHistory()
    history.add(minute_result(clock, 52.0, 10.0, 1))
    clock.advance(30)
    history.add(minute_result(clock, 54.0, 20.0, 2))
    clock.advance(30)  # 660 s: the next minute
    history.add(stop_result(clock, cycle=3))
    points = history.points()

    assert [p.start_s for p in points] == [600.0, 660.0]
    first, second = points
    assert first.voltage_v == 53.0 and first.current_a == 15.0 and first.cycles == 2
    assert first.max_cell_v == 54.0 / 16 and first.min_cell_v == 52.0 / 16
    assert first.charge_current_a == 50.0 and not first.failsafe
    assert second.voltage_v is None and second.charge_current_a == 0.0 and second.failsafe

    doc = history_doc(history, monotonic_now=clock.now() + 5, wall_now=1_700_000_000.0)
    assert doc["t"] == [1_700_000_000.0 - 65, 1_700_000_000.0 - 5]
    assert doc["voltage_v"] == [53.0, None] and doc["failsafe"] == [False, True]
    assert doc["interval_s"] == MINUTE_S and doc["capacity"] == CAPACITY


@given(st.lists(st.tuples(st.floats(0.1, 200.0), st.floats(40.0, 60.0), st.booleans()), max_size=300))
def test_history_is_bounded_ordered_and_means_stay_inside_their_minute(steps) -> None:
    clock = FakeClock(0.0)
    history = MinuteHistory(capacity=5)
    seen: dict[int, list[float]] = {}
    for cycle, (dt, voltage, stop) in enumerate(steps, start=1):
        clock.advance(dt)
        if stop:
            history.add(stop_result(clock, cycle=cycle))
        else:
            history.add(minute_result(clock, voltage, 0.0, cycle))
            seen.setdefault(int(clock.now() // MINUTE_S), []).append(voltage)
    points = history.points()
    assert len(points) <= 5
    assert [p.start_s for p in points] == sorted({p.start_s for p in points})
    for p in points:
        values = seen.get(int(p.start_s // MINUTE_S))
        if values is None:
            assert p.voltage_v is None
        else:
            assert p.voltage_v is not None
            assert min(values) - 1e-9 <= p.voltage_v <= max(values) + 1e-9


def test_history_capacity_is_a_day_of_minutes() -> None:
    clock = FakeClock(0.0)
    history = MinuteHistory()
    for cycle in range(1, 1500):
        history.add(minute_result(clock, 53.0, 0.0, cycle))
        clock.advance(MINUTE_S)
    assert len(history.points()) == 1440 == CAPACITY
    assert history.points()[-1].start_s == 1498 * MINUTE_S


def test_stop_limits_with_fault_are_the_only_failsafe() -> None:
    clock = FakeClock()
    zero = Limits(0.0, 0.0, reasons=("charge 0 A: highest cell 3.60 V >= 3.55 V",))  # a stop by the policy
    assert (
        state_doc(make_result(clock, reading=make_reading(clock), limits=zero), period_s=1.0)["failsafe"]
        is None
    )
    stop = Limits.stop("reading is implausible: cell 3 at 0.000 V", Fault.IMPLAUSIBLE_READING)
    assert (
        state_doc(make_result(clock, limits=stop), period_s=1.0)["failsafe"]["fault"] == "implausible_reading"
    )
