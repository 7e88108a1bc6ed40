"""FrameBuilder: golden bytes, two independent decodes, every alarm, fault and request mapping."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import cantools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_core.model import Alarm, BatteryReading, Fault, LimitFlag, Limits
from pylontech_can.config import PylontechConfig
from pylontech_can.dbc import dbc_text
from pylontech_can.frames import CanFrame, FrameBuilder

from .bytecheck import check_decode

BOTH = LimitFlag.CHARGE | LimitFlag.DISCHARGE
DB: Any = cantools.database.load_string(dbc_text(), database_format="dbc")

# PROTOCOLS 6: reply_16s_lfp_bd6a17s6p_fw7.1.0H read by the JK source, README ladder, 3.45/3.15 V x 16.
WORKED_CELLS = (3.190,) * 6 + (3.185,) + (3.200,) * 8 + (3.203,)
WORKED_READING = BatteryReading(
    source_id="jk",
    taken_at_s=0.0,
    voltage_v=51.21,
    current_a=-0.69,
    soc_pct=15.0,
    cell_voltages_v=WORKED_CELLS,
    temperatures_c=(16.0, 16.0),
    bms_temperature_c=18.0,
)
WORKED_LIMITS = Limits(30.0, 50.0, 55.2, 50.4, BOTH, ("worked example",))


def by_id(frames: tuple[CanFrame, ...]) -> dict[int, bytes]:
    return {f.arbitration_id: f.data for f in frames}


def reading(**changes: object) -> BatteryReading:
    return replace(WORKED_READING, **changes)  # type: ignore[arg-type]


def test_worked_example_exact_bytes() -> None:
    frames = FrameBuilder(PylontechConfig()).build(WORKED_READING, WORKED_LIMITS)
    assert [str(f) for f in frames] == [
        "351#28022C01F401F801",
        "355#0F006400",
        "356#0114F9FFA000",
        "359#0000000001504E",
        "35C#C000",
        "35E#50594C4F4E202020",
    ]


def test_worked_example_once_stale() -> None:
    builder = FrameBuilder(PylontechConfig())
    builder.build(WORKED_READING, WORKED_LIMITS)
    frames = by_id(builder.build(None, Limits.stop("stale", Fault.STALE_READING)))
    assert frames[0x351] == bytes.fromhex("280200000000F801")
    assert frames[0x35C] == bytes.fromhex("0000")
    assert frames[0x359] == bytes.fromhex("0000000801504E")
    # the last measurements repeat, with current 0
    assert frames[0x355] == bytes.fromhex("0F006400")
    assert frames[0x356] == bytes.fromhex("01140000A000")


def test_before_first_reading_only_limits_alarms_requests_name() -> None:
    frames = FrameBuilder(PylontechConfig()).build(None, Limits.stop("no reading yet", Fault.NO_READING))
    assert [f.arbitration_id for f in frames] == [0x351, 0x359, 0x35C, 0x35E]
    data = by_id(frames)
    # fallback CVL/DVL: 16 cells x 3.45 / 3.15 V
    assert check_decode(0x351, data[0x351]) == {"cvl_v": 55.2, "ccl_a": 0.0, "dcl_a": 0.0, "dvl_v": 50.4}
    assert data[0x35C] == b"\x00\x00"


def test_stop_voltages_from_config_then_last_known() -> None:
    config = PylontechConfig(stop_charge_voltage_v=27.6, stop_discharge_voltage_v=24.0)
    builder = FrameBuilder(config)
    stop = Limits.stop("no reading", Fault.NO_READING)
    assert check_decode(0x351, by_id(builder.build(None, stop))[0x351])["cvl_v"] == 27.6
    builder.build(WORKED_READING, WORKED_LIMITS)
    decoded = check_decode(0x351, by_id(builder.build(None, stop))[0x351])
    assert (decoded["cvl_v"], decoded["dvl_v"]) == (55.2, 50.4)


def test_stop_voltages_scale_with_the_cell_count_seen() -> None:
    builder = FrameBuilder(PylontechConfig())
    eight = reading(cell_voltages_v=(3.3,) * 8, voltage_v=26.4)
    builder.build(eight, Limits.stop("policy", Fault.POLICY_ERROR))
    decoded = check_decode(0x351, by_id(builder.build(None, Limits.stop("x", Fault.STALE_READING)))[0x351])
    assert (decoded["cvl_v"], decoded["dvl_v"]) == (27.6, 25.2)


@pytest.mark.parametrize(
    ("values", "limits"),
    [
        (
            {"voltage_v": 53.28, "current_a": 12.35, "soc_pct": 99.6, "soh_pct": 97.0},
            Limits(60, 60, 56.0, 48.0, BOTH),
        ),
        ({"voltage_v": 48.0, "current_a": -120.44, "soc_pct": 0.4}, Limits(0.5, 200, 54.0, 46.0, BOTH)),
        ({"voltage_v": 25.6, "current_a": 0.0, "temperatures_c": (-5.5, -4.5)}, Limits(0, 0, 28.0, 24.0)),
        (
            {"voltage_v": 51.2, "current_a": 250.0, "temperatures_c": (45.05,)},
            Limits(250, 1, 55.0, 45.0, BOTH),
        ),
    ],
)
def test_cantools_and_struct_agree_with_the_inputs(values: dict[str, object], limits: Limits) -> None:
    r = reading(**values)
    frames = by_id(FrameBuilder(PylontechConfig()).build(r, limits))
    via_dbc = {fid: DB.decode_message(fid, data) for fid, data in frames.items()}
    by_hand = {fid: check_decode(fid, data) for fid, data in frames.items()}
    temp = sum(r.temperatures_c) / len(r.temperatures_c)
    assert via_dbc[0x351]["charge_voltage_limit"] == pytest.approx(limits.charge_voltage_v, abs=0.05)
    assert by_hand[0x351]["cvl_v"] == pytest.approx(limits.charge_voltage_v, abs=0.05)
    assert via_dbc[0x351]["charge_current_limit"] == pytest.approx(limits.charge_current_a, abs=0.05)
    assert by_hand[0x351]["ccl_a"] == pytest.approx(limits.charge_current_a, abs=0.05)
    assert via_dbc[0x351]["discharge_current_limit"] == pytest.approx(limits.discharge_current_a, abs=0.05)
    assert by_hand[0x351]["dcl_a"] == pytest.approx(limits.discharge_current_a, abs=0.05)
    assert by_hand[0x351]["dvl_v"] == pytest.approx(limits.discharge_voltage_v, abs=0.05)
    assert via_dbc[0x355]["soc"] == by_hand[0x355]["soc_pct"] == round(r.soc_pct)
    assert via_dbc[0x355]["soh"] == by_hand[0x355]["soh_pct"] == round(r.soh_pct)
    for key, dbc_key, expected, tol in [
        ("voltage_v", "voltage", r.voltage_v, 0.005),
        ("current_a", "current", r.current_a, 0.05),
        ("temperature_c", "temperature", temp, 0.05),
    ]:
        assert by_hand[0x356][key] == pytest.approx(expected, abs=tol + 1e-9)
        assert via_dbc[0x356][dbc_key] == pytest.approx(by_hand[0x356][key])
    assert by_hand[0x35C]["charge"] == (limits.charge_current_a > 0)
    assert by_hand[0x35C]["discharge"] == (limits.discharge_current_a > 0)
    assert by_hand[0x359]["pn"] == "PN" and by_hand[0x359]["dlc"] == 7
    assert by_hand[0x35E]["name"] == "PYLON   "


def test_current_rounds_not_truncates() -> None:
    for amps, raw in [(-0.69, -7), (0.66, 7), (-0.64, -6), (12.36, 124)]:
        data = by_id(FrameBuilder(PylontechConfig()).build(reading(current_a=amps), WORKED_LIMITS))[0x356]
        assert int.from_bytes(data[2:4], "little", signed=True) == raw


@pytest.mark.parametrize(
    ("alarm", "protection", "alarm_bytes", "charge", "discharge"),
    [
        (Alarm.CELL_OVERVOLTAGE, (0x02, 0), (0x02, 0), False, True),
        (Alarm.PACK_OVERVOLTAGE, (0x02, 0), (0x02, 0), False, True),
        (Alarm.CELL_UNDERVOLTAGE, (0x04, 0), (0x04, 0), True, False),
        (Alarm.PACK_UNDERVOLTAGE, (0x04, 0), (0x04, 0), True, False),
        (Alarm.BATTERY_OVERTEMPERATURE, (0x08, 0), (0x08, 0), False, False),
        (Alarm.MOSFET_OVERTEMPERATURE, (0x08, 0), (0x08, 0), False, False),
        (Alarm.BOX_OVERTEMPERATURE, (0x08, 0), (0x08, 0), False, False),
        (Alarm.BATTERY_UNDERTEMPERATURE, (0x10, 0), (0x10, 0), False, True),
        (Alarm.DISCHARGE_OVERCURRENT, (0x80, 0), (0x80, 0), True, False),
        (Alarm.CHARGE_OVERCURRENT, (0, 0x01), (0, 0x01), False, True),
        (Alarm.CELL_IMBALANCE, (0, 0x08), (0, 0), False, False),
        (Alarm.BMS_INTERNAL, (0, 0x08), (0, 0), False, False),
        (Alarm.CELL_ZERO_VOLTAGE, (0, 0x08), (0, 0), False, False),
        (Alarm.LOW_CAPACITY, (0, 0), (0, 0), True, True),
    ],
)
def test_each_alarm_maps_to_its_bits_and_requests(
    alarm: Alarm, protection: tuple[int, int], alarm_bytes: tuple[int, int], charge: bool, discharge: bool
) -> None:
    frames = by_id(FrameBuilder(PylontechConfig()).build(reading(alarms=frozenset({alarm})), WORKED_LIMITS))
    decoded = check_decode(0x359, frames[0x359])
    assert decoded["protection"] == protection
    assert decoded["alarm"] == alarm_bytes
    requests = check_decode(0x35C, frames[0x35C])
    assert (requests["charge"], requests["discharge"]) == (charge, discharge)
    limits = check_decode(0x351, frames[0x351])
    assert (limits["ccl_a"] > 0, limits["dcl_a"] > 0) == (charge, discharge)


def test_every_alarm_member_is_mapped() -> None:
    from pylontech_can.mapping import ALARM_SIGNALS, SYSTEM_ERROR_ALARMS

    assert set(Alarm) == set(ALARM_SIGNALS) | SYSTEM_ERROR_ALARMS


@pytest.mark.parametrize(
    ("fault", "byte1", "byte3"),
    [
        (Fault.NO_READING, 0, 0x08),
        (Fault.STALE_READING, 0, 0x08),
        (Fault.TIMEOUT, 0, 0x08),
        (Fault.IMPLAUSIBLE_READING, 0x08, 0),
        (Fault.POLICY_ERROR, 0x08, 0),
        (Fault.SHUTDOWN, 0, 0),
    ],
)
def test_each_fault_maps_to_its_bit_and_clears_requests(fault: Fault, byte1: int, byte3: int) -> None:
    builder = FrameBuilder(PylontechConfig())
    builder.build(WORKED_READING, WORKED_LIMITS)
    frames = by_id(builder.build(None, Limits.stop(str(fault), fault)))
    assert frames[0x359][1] == byte1 and frames[0x359][3] == byte3
    assert frames[0x359][0] == frames[0x359][2] == 0
    assert frames[0x35C] == b"\x00\x00"
    assert frames[0x351][2:6] == b"\x00" * 4


def test_policy_error_with_a_reading_keeps_measurements_and_sets_system_error() -> None:
    frames = by_id(
        FrameBuilder(PylontechConfig()).build(WORKED_READING, Limits.stop("boom", Fault.POLICY_ERROR))
    )
    assert check_decode(0x356, frames[0x356])["current_a"] == -0.7
    assert frames[0x359][1] == 0x08 and frames[0x35C] == b"\x00\x00"


def test_system_error_bit_7_option() -> None:
    config = PylontechConfig(system_error_bit=7)
    frames = by_id(FrameBuilder(config).build(None, Limits.stop("x", Fault.IMPLAUSIBLE_READING)))
    assert frames[0x359][1] == 0x80
    frames = by_id(FrameBuilder(config).build(reading(alarms=frozenset({Alarm.BMS_INTERNAL})), WORKED_LIMITS))
    assert frames[0x359][1] == 0x80


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (Limits(30, 50, 55.2, 50.4, BOTH), 0xC0),
        (Limits(30, 0, 55.2, 50.4, LimitFlag.CHARGE), 0x80),
        (Limits(0, 50, 55.2, 50.4, LimitFlag.DISCHARGE), 0x40),
        (Limits(0, 0, 55.2, 50.4), 0x00),
        (Limits(30, 50, 55.2, 50.4, BOTH | LimitFlag.FORCE_CHARGE), 0xD0),
        (Limits(30, 50, 55.2, 50.4, BOTH | LimitFlag.FULL_CHARGE), 0xC8),
        (Limits(0.04, 50, 55.2, 50.4, BOTH), 0x40),  # rounds to 0.0 A: no charge request
    ],
)
def test_request_flags_follow_limits(limits: Limits, expected: int) -> None:
    frames = by_id(FrameBuilder(PylontechConfig()).build(WORKED_READING, limits))
    assert frames[0x35C] == bytes([expected, 0])
    decoded = check_decode(0x351, frames[0x351])
    assert (decoded["ccl_a"] > 0) == bool(expected & 0x80)
    assert (decoded["dcl_a"] > 0) == bool(expected & 0x40)


def test_current_without_its_flag_is_sent_as_zero(caplog: pytest.LogCaptureFixture) -> None:
    builder = FrameBuilder(PylontechConfig())
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            frames = by_id(builder.build(WORKED_READING, Limits(30, 50, 55.2, 50.4, LimitFlag.DISCHARGE)))
    assert check_decode(0x351, frames[0x351])["ccl_a"] == 0.0
    assert frames[0x35C] == b"\x40\x00"
    assert sum("without the CHARGE flag" in r.message for r in caplog.records) == 1


def test_mosfet_off_blocks_that_direction() -> None:
    frames = by_id(FrameBuilder(PylontechConfig()).build(reading(charge_enabled=False), WORKED_LIMITS))
    assert frames[0x35C] == b"\x40\x00"
    frames = by_id(FrameBuilder(PylontechConfig()).build(reading(discharge_enabled=False), WORKED_LIMITS))
    assert frames[0x35C] == b"\x80\x00"


def test_force_charge_soc_hysteresis_and_bit_choice() -> None:
    builder = FrameBuilder(PylontechConfig(force_charge_soc_pct=10.0, force_charge_release_soc_pct=15.0))
    steps = [(12.0, 0xC0), (10.0, 0xD0), (13.0, 0xD0), (15.0, 0xC0), (11.0, 0xC0)]
    for soc, expected in steps:
        assert by_id(builder.build(reading(soc_pct=soc), WORKED_LIMITS))[0x35C][0] == expected, soc
    builder = FrameBuilder(PylontechConfig(force_charge_soc_pct=10.0, force_charge_bit=5))
    assert by_id(builder.build(reading(soc_pct=5.0), WORKED_LIMITS))[0x35C][0] == 0xE0
    # never with stop limits or without a reading
    assert by_id(builder.build(None, Limits.stop("x", Fault.STALE_READING)))[0x35C][0] == 0


def test_dlc6_without_discharge_voltage() -> None:
    frames = by_id(
        FrameBuilder(PylontechConfig(send_discharge_voltage=False)).build(WORKED_READING, WORKED_LIMITS)
    )
    assert frames[0x351] == bytes.fromhex("28022C01F401")


def test_manufacturer_and_module_count() -> None:
    frames = by_id(
        FrameBuilder(PylontechConfig(manufacturer="JKBMS", module_count=6)).build(None, WORKED_LIMITS)
    )
    assert frames[0x35E] == b"JKBMS   "
    assert frames[0x359] == bytes.fromhex("00000000 06 504E")


@pytest.mark.parametrize(
    ("mode", "temps", "bms", "expected"),
    [
        ("mean", (16.0, 18.0), 40.0, 17.0),
        ("max", (16.0, 18.0), 40.0, 40.0),
        ("max", (16.0, 18.0), None, 18.0),
        ("mean", (), 25.0, 25.0),
        ("mean", (), None, 0.0),
    ],
)
def test_temperature_modes(mode: str, temps: tuple[float, ...], bms: float | None, expected: float) -> None:
    config = PylontechConfig(temperature_mode=mode)  # type: ignore[arg-type]
    r = reading(temperatures_c=temps, bms_temperature_c=bms)
    assert (
        check_decode(0x356, by_id(FrameBuilder(config).build(r, WORKED_LIMITS))[0x356])["temperature_c"]
        == expected
    )


def test_out_of_range_values_are_clamped_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    builder = FrameBuilder(PylontechConfig())
    huge = Limits(5000.0, 9000.0, 7000.0, 50.4, BOTH)
    r = reading(soc_pct=140.0, soh_pct=120.0, current_a=-4000.0, temperatures_c=(5000.0,), voltage_v=400.0)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            frames = by_id(builder.build(r, huge))
    assert check_decode(0x351, frames[0x351]) == {
        "cvl_v": 6553.5,
        "ccl_a": 3276.7,
        "dcl_a": 3276.7,
        "dvl_v": 50.4,
    }
    assert check_decode(0x355, frames[0x355]) == {"soc_pct": 100, "soh_pct": 100}
    assert check_decode(0x356, frames[0x356]) == {
        "voltage_v": 327.67,
        "current_a": -3276.8,
        "temperature_c": 3276.7,
    }
    warnings = [rec for rec in caplog.records if "outside" in rec.message]
    assert len(warnings) == 8  # once per clamped signal, not once per cycle
    caplog.clear()
    with caplog.at_level(logging.INFO):
        builder.build(WORKED_READING, WORKED_LIMITS)
    assert any("back in range" in rec.message for rec in caplog.records)


def test_no_measurement_frames_without_a_reading_ever_even_with_limits() -> None:
    # defence in depth: no reading means 0 A, whatever the limits say
    frames = by_id(FrameBuilder(PylontechConfig()).build(None, WORKED_LIMITS))
    assert frames[0x351][2:6] == b"\x00" * 4 and frames[0x35C] == b"\x00\x00"
    assert 0x355 not in frames and 0x356 not in frames


readings = st.builds(
    BatteryReading,
    source_id=st.just("h"),
    taken_at_s=st.just(0.0),
    voltage_v=st.floats(-10, 1000, allow_nan=False),
    current_a=st.floats(-5000, 5000, allow_nan=False),
    soc_pct=st.floats(-10, 200, allow_nan=False),
    cell_voltages_v=st.lists(st.floats(0, 5, allow_nan=False), max_size=32).map(tuple),
    temperatures_c=st.lists(st.floats(-300, 6000, allow_nan=False), max_size=4).map(tuple),
    soh_pct=st.floats(-10, 200, allow_nan=False),
    bms_temperature_c=st.none() | st.floats(-300, 6000, allow_nan=False),
    alarms=st.frozensets(st.sampled_from(list(Alarm))),
    charge_enabled=st.booleans(),
    discharge_enabled=st.booleans(),
)


@st.composite
def limits_strategy(draw: st.DrawFn) -> Limits:
    if draw(st.booleans()):
        return Limits.stop("h", draw(st.sampled_from(list(Fault))))
    charge = draw(st.floats(0, 10000, allow_nan=False))
    discharge = draw(st.floats(0, 10000, allow_nan=False))
    flags = LimitFlag.NONE
    if charge > 0 and draw(st.booleans()):
        flags |= LimitFlag.CHARGE
    if discharge > 0 and draw(st.booleans()):
        flags |= LimitFlag.DISCHARGE
    volts = st.none() | st.floats(0, 10000, allow_nan=False)
    return Limits(charge, discharge, draw(volts), draw(volts), flags)


@settings(max_examples=150, deadline=None)
@given(r=st.none() | readings, limits=limits_strategy())
def test_any_input_builds_frames_with_the_safety_invariants(r: BatteryReading | None, limits: Limits) -> None:
    frames = by_id(FrameBuilder(PylontechConfig()).build(r, limits))
    decoded = check_decode(0x351, frames[0x351])
    requests = check_decode(0x35C, frames[0x35C])
    assert requests["charge"] == (decoded["ccl_a"] > 0)
    assert requests["discharge"] == (decoded["dcl_a"] > 0)
    assert decoded["ccl_a"] >= 0 and decoded["dcl_a"] >= 0
    if r is None or limits.is_stop:
        assert frames[0x35C] == b"\x00\x00" and decoded["ccl_a"] == decoded["dcl_a"] == 0
    for fid, data in frames.items():
        DB.decode_message(fid, data)  # every frame decodes with the DBC
