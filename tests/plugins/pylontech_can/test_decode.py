"""decode_frame and the candump parser: real captures, unit-suffixed keys, robustness."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_core.model import Alarm, Fault, LimitFlag, Limits
from pylontech_can.config import PylontechConfig
from pylontech_can.decode import (
    FrameDecodeError,
    decode_candump_frame,
    decode_frame,
    parse_candump,
    parse_candump_line,
)
from pylontech_can.frames import FrameBuilder

from .test_frames import WORKED_LIMITS, WORKED_READING, reading

DATA = Path(__file__).parent / "data"


def test_decodes_what_the_builder_sends() -> None:
    frames = {
        f.arbitration_id: f.data for f in FrameBuilder(PylontechConfig()).build(WORKED_READING, WORKED_LIMITS)
    }
    assert decode_frame(0x351, frames[0x351]) == {
        "charge_voltage_limit_v": 55.2,
        "charge_current_limit_a": 30.0,
        "discharge_current_limit_a": 50.0,
        "discharge_voltage_limit_v": 50.4,
    }
    assert decode_frame(0x355, frames[0x355]) == {"soc_pct": 15, "soh_pct": 100}
    assert decode_frame(0x356, frames[0x356]) == {
        "voltage_v": 51.21,
        "current_a": -0.7,
        "temperature_c": 16.0,
    }
    flags = decode_frame(0x35C, frames[0x35C])
    assert flags == {
        "charge_enable": True,
        "discharge_enable": True,
        "force_charge_1": False,
        "force_charge_2": False,
        "full_charge": False,
    }
    alarms = decode_frame(0x359, frames[0x359])
    assert alarms["module_count"] == 1 and alarms["pn"] == "PN"
    assert not any(v for k, v in alarms.items() if isinstance(v, bool))
    assert decode_frame(0x35E, frames[0x35E]) == {"manufacturer": "PYLON"}


def test_decoded_flag_names_follow_alarms_and_faults() -> None:
    builder = FrameBuilder(PylontechConfig())
    r = reading(alarms=frozenset({Alarm.CELL_OVERVOLTAGE, Alarm.CHARGE_OVERCURRENT, Alarm.CELL_IMBALANCE}))
    data = {f.arbitration_id: f.data for f in builder.build(r, WORKED_LIMITS)}
    alarms = decode_frame(0x359, data[0x359])
    assert {k for k, v in alarms.items() if v is True} == {
        "protection_over_voltage",
        "alarm_high_voltage",
        "protection_charge_over_current",
        "alarm_charge_high_current",
        "protection_system_error",
    }
    data = {f.arbitration_id: f.data for f in builder.build(None, Limits.stop("x", Fault.TIMEOUT))}
    assert {k for k, v in decode_frame(0x359, data[0x359]).items() if v is True} == {
        "alarm_internal_communication_fail"
    }
    limits = Limits(
        10,
        10,
        55.0,
        50.0,
        LimitFlag.CHARGE | LimitFlag.DISCHARGE | LimitFlag.FULL_CHARGE | LimitFlag.FORCE_CHARGE,
    )
    data = {f.arbitration_id: f.data for f in builder.build(WORKED_READING, limits)}
    assert decode_frame(0x35C, data[0x35C])["full_charge"] is True
    assert decode_frame(0x35C, data[0x35C])["force_charge_2"] is True


def test_short_and_long_frames() -> None:
    assert decode_frame(0x351, bytes.fromhex("28022C01F401")) == {
        "charge_voltage_limit_v": 55.2,
        "charge_current_limit_a": 30.0,
        "discharge_current_limit_a": 50.0,
    }
    assert decode_frame(0x355, bytes.fromhex("540060000000")) == {"soc_pct": 84, "soh_pct": 96}
    assert decode_frame(0x35E, b"PYTES") == {"manufacturer": "PYTES"}
    assert decode_frame(0x305, bytes(8)) == {"heartbeat": 0}
    with pytest.raises(FrameDecodeError, match="too few"):
        decode_frame(0x351, b"\x01")
    with pytest.raises(FrameDecodeError, match="not a Pylontech"):
        decode_frame(0x360, bytes(8))


# Expected values worked out by hand from the protocol table (little-endian; 0.1 V, 0.1 A, 0.01 V, 0.1 degC).
EXPECTED_CAPTURES: dict[tuple[str, int], dict[str, object]] = {
    # Block A: 6 x US5000, older firmware (setfirelabs.com, "V1.2 vs V1.3")
    ("can0", 0x351): {
        "charge_voltage_limit_v": 53.2,  # 0x0214 = 532
        "charge_current_limit_a": 480.0,  # 0x12C0 = 4800
        "discharge_current_limit_a": 480.0,
        "discharge_voltage_limit_v": 45.0,  # 0x01C2 = 450
    },
    ("can0", 0x355): {"soc_pct": 88, "soh_pct": 94},
    ("can0", 0x356): {"voltage_v": 49.86, "current_a": -27.0, "temperature_c": 36.3},  # 0xFEF2 = -270
    ("can0", 0x35C): {
        "charge_enable": True,
        "discharge_enable": True,
        "force_charge_1": False,
        "force_charge_2": False,
        "full_charge": False,
    },
    ("can0", 0x35E): {"manufacturer": "PYLON"},
    # Block B: newer firmware
    ("can1", 0x351): {
        "charge_voltage_limit_v": 52.8,
        "charge_current_limit_a": 480.0,
        "discharge_current_limit_a": 480.0,
        "discharge_voltage_limit_v": 45.0,
    },
    ("can1", 0x355): {"soc_pct": 84, "soh_pct": 96},
    ("can1", 0x356): {"voltage_v": 49.87, "current_a": -27.9, "temperature_c": 36.3},  # 0xFEE9 = -279
    ("can1", 0x35E): {"manufacturer": "PYLON"},
    # Block C: US2000/US3000 stack of 10 (setfirelabs.com, "CAN reading and CAN replication")
    ("can2", 0x351): {
        "charge_voltage_limit_v": 53.2,
        "charge_current_limit_a": 370.0,  # 0x0E74 = 3700
        "discharge_current_limit_a": 370.0,
        "discharge_voltage_limit_v": 46.0,
    },
    ("can2", 0x355): {"soc_pct": 26, "soh_pct": 100},
    ("can2", 0x35C): {
        "charge_enable": True,
        "discharge_enable": True,
        "force_charge_1": False,
        "force_charge_2": False,
        "full_charge": False,
    },
    ("can2", 0x35E): {"manufacturer": "PYLON"},
}
EXPECTED_MODULES = {"can0": 6, "can2": 10}


def test_real_captures_decode_to_the_published_values() -> None:
    frames = list(parse_candump((DATA / "real_captures.log").read_text().splitlines()))
    assert len(frames) == 17
    seen = set()
    for frame in frames:
        key = (frame.channel, frame.arbitration_id)
        record = decode_candump_frame(frame)
        if key in EXPECTED_CAPTURES:
            assert record["signals"] == EXPECTED_CAPTURES[key], key
            seen.add(key)
        elif frame.arbitration_id == 0x359:
            signals = record["signals"]
            assert signals["module_count"] == EXPECTED_MODULES[frame.channel]
            assert signals["pn"] == "PN"
            assert not any(v for v in signals.values() if isinstance(v, bool))
            seen.add(key)
        else:  # V1.3's 0x35A / 0x35F: the extension frames (checked in test_extra_frames)
            assert frame.arbitration_id in (0x35A, 0x35F)
            assert record["signals"] is not None
    assert seen == set(EXPECTED_CAPTURES) | {("can0", 0x359), ("can2", 0x359)}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "(1700000000.123456) can0 351#1402B0044006C201",
            (1700000000.123456, "can0", 0x351, "1402B0044006C201"),
        ),
        ("(1700000000.5) vcan0 35C#C000 R", (1700000000.5, "vcan0", 0x35C, "C000")),
        ("  can0  351   [8]  14 02 B0 04 40 06 C2 01", (None, "can0", 0x351, "1402B0044006C201")),
        (" (1700000001.000000)  can0  35C   [2]  C0 00", (1700000001.0, "can0", 0x35C, "C000")),
        (
            " (2024-01-01 10:00:00.000000)  can0  35E   [8]  50 59 4C 4F 4E 20 20 20   'PYLON   '",
            (None, "can0", 0x35E, "50594C4F4E202020"),
        ),
        ("  can0  305   [8]  00 00 00 00 00 00 00 00", (None, "can0", 0x305, "0000000000000000")),
        ("  can0  359   [0]  ", (None, "can0", 0x359, "")),
    ],
)
def test_candump_formats(line: str, expected: tuple[float | None, str, int, str]) -> None:
    frame = parse_candump_line(line)
    assert frame is not None
    assert (frame.timestamp_s, frame.channel, frame.arbitration_id, frame.data.hex().upper()) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "# comment",
        "garbage here",
        "  can0  351   [8]  14 02",
        "(1.0) can0 351##1AABB",
        "(1.0) can0 351#123",
    ],
)
def test_candump_non_frames_are_skipped(line: str) -> None:
    assert parse_candump_line(line) is None


@settings(max_examples=300, deadline=None)
@given(
    arbitration_id=st.sampled_from([0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E, 0x305, 0x35A, 0x7FF]),
    data=st.binary(max_size=8),
)
def test_decode_frame_never_crashes(arbitration_id: int, data: bytes) -> None:
    try:
        values = decode_frame(arbitration_id, data)
    except FrameDecodeError:
        return
    assert values and all(isinstance(k, str) for k in values)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_candump_parser_never_crashes(line: str) -> None:
    frame = parse_candump_line(line)
    if frame is not None:
        assert 0 <= frame.arbitration_id <= 0xFFFFFFFF and len(frame.data) <= 8


@settings(max_examples=200, deadline=None)
@given(
    arbitration_id=st.integers(0, 0x7FF), data=st.binary(max_size=8), ts=st.floats(0, 2e9, allow_nan=False)
)
def test_candump_log_round_trip(arbitration_id: int, data: bytes, ts: float) -> None:
    line = f"({ts:.6f}) can0 {arbitration_id:03X}#{data.hex().upper()}"
    frame = parse_candump_line(line)
    assert frame is not None and (frame.arbitration_id, frame.data) == (arbitration_id, data)
    screen = f"  can0  {arbitration_id:03X}   [{len(data)}]  {data.hex(' ').upper()}"
    frame = parse_candump_line(screen)
    assert frame is not None and (frame.arbitration_id, frame.data) == (arbitration_id, data)
