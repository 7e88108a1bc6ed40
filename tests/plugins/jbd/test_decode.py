"""Decoding: impossible content is ImplausibleReply, a refusal is an error (never zeros), round trips."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_core.errors import ImplausibleReply
from gateway_core.model import Alarm
from jbd.decode import BasicInfo, check_cells, check_reply, decode_basic, decode_cells, decode_name
from jbd.encode import encode_basic, encode_cells
from jbd.protocol import REG_BASIC, REG_CELLS, JbdFrameError, build_reply, build_request, parse_frame
from jbd.reading import core_alarms, to_json, to_reading

from .helpers import FRAMES

BASIC_DATA = parse_frame(FRAMES["basic_4s_3ntc_sp04s034"]).data


def patched(offset: int, value: int) -> bytes:
    data = bytearray(BASIC_DATA)
    data[offset] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (patched(19, 101), "SOC 101 %"),
        (patched(19, 255), "SOC 255 %"),
        (patched(22, 4), "says 4 NTCs, but its 29 bytes hold at most 3"),
        (patched(21, 0), "0 cells"),
        (patched(21, 33), "33 cells"),
        (BASIC_DATA[:22], "basic info carries 22 bytes; its fields need 23"),
        (b"", "basic info carries 0 bytes"),
    ],
)
def test_impossible_basic_info_is_implausible(data, words):
    with pytest.raises(ImplausibleReply, match=words):
        decode_basic(data)


@pytest.mark.parametrize(
    ("data", "words"), [(b"", "0 bytes"), (b"\x0d\x00\x0d", "3 bytes"), (bytes(66), "33 cells")]
)
def test_impossible_cells_are_implausible(data, words):
    with pytest.raises(ImplausibleReply, match=words):
        decode_cells(data)


def test_a_cell_count_contradicting_the_cells_is_implausible():
    basic = decode_basic(BASIC_DATA)
    with pytest.raises(ImplausibleReply, match="reports 4 cells but 0x04 carries 3"):
        check_cells(basic, (3.3, 3.3, 3.3))
    with pytest.raises(ImplausibleReply):
        to_reading(basic, (3.3,) * 5, "p", 0.0)
    with pytest.raises(ImplausibleReply):
        to_json(basic, (3.3,) * 3)


def test_a_status_error_is_an_error_naming_it_never_zeros():
    frame = parse_frame(bytes.fromhex("DD 03 80 00 FF 80 77"))
    with pytest.raises(
        JbdFrameError, match=r"register 0x03 \(basic info\) with status 0x80 \(refused\)"
    ) as caught:
        check_reply(frame, REG_BASIC)
    assert caught.value.reason == "status"
    with pytest.raises(JbdFrameError, match="status 0x80"):
        check_reply(parse_frame(build_reply(REG_BASIC, BASIC_DATA, 0x80)), REG_BASIC)


def test_check_reply_refuses_echoes_and_other_registers():
    with pytest.raises(JbdFrameError, match="a request") as echo:
        check_reply(parse_frame(build_request(REG_BASIC)), REG_BASIC)
    assert echo.value.reason == "echo"
    with pytest.raises(JbdFrameError, match="not to 0x04") as other:
        check_reply(parse_frame(FRAMES["basic_4s_3ntc_sp04s034"]), REG_CELLS)
    assert other.value.reason == "register"


def test_names_with_unprintable_bytes_stay_one_line():
    assert decode_name(b"JBD\x00\x00") == "JBD"
    assert decode_name(b"JB\xffD\n") == "JB?D?"


def test_unassigned_protection_bits_and_zero_cells_are_alarms():
    basic = dataclasses.replace(decode_basic(BASIC_DATA), protection_bits=1 << 14 | 1 << 10 | 1 << 5)
    assert basic.protections == ("charge_undertemperature", "short_circuit", "bit_14")
    assert core_alarms(basic, (3.3, 0.0, 3.3, 3.3)) == {
        Alarm.BATTERY_UNDERTEMPERATURE,
        Alarm.DISCHARGE_OVERCURRENT,
        Alarm.BMS_INTERNAL,
        Alarm.CELL_ZERO_VOLTAGE,
    }


def test_invert_current_flips_the_sign():
    basic = decode_basic(parse_frame(FRAMES["basic_11s_2ntc_charging_balancing"]).data)
    cells = decode_cells(parse_frame(FRAMES["cells_11s"]).data)
    assert to_reading(basic, cells, "p", 0.0).current_a == 0.98
    assert to_reading(basic, cells, "p", 0.0, invert_current=True).current_a == -0.98
    assert to_json(basic, None, invert_current=True)["current_a"] == -0.98


basic_infos = st.builds(
    BasicInfo,
    voltage_v=st.integers(0, 0xFFFF).map(lambda v: v / 100),
    current_a=st.integers(-0x8000, 0x7FFF).map(lambda v: v / 100),
    remaining_capacity_ah=st.integers(0, 0xFFFF).map(lambda v: v / 100),
    nominal_capacity_ah=st.integers(0, 0xFFFF).map(lambda v: v / 100),
    cycle_count=st.integers(0, 0xFFFF),
    manufacture_date=st.none()
    | st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2127, 12, 31)).map(str),
    balance_bits=st.integers(0, 0xFFFFFFFF),
    protection_bits=st.integers(0, 0xFFFF),
    software_version=st.tuples(st.integers(0, 15), st.integers(0, 15)).map(lambda t: f"{t[0]}.{t[1]}"),
    soc_pct=st.integers(0, 100),
    fet_bits=st.integers(0, 3),
    cell_count=st.integers(1, 32),
    temperatures_c=st.lists(st.integers(-500, 1200).map(lambda t: t / 10), max_size=8).map(tuple),
    extension=st.binary(max_size=9),
)  # fmt: skip


@given(basic_infos)
def test_basic_info_round_trips_through_the_wire_format(info):
    assert decode_basic(encode_basic(info)) == info


@given(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=32))
def test_cells_round_trip(millivolts):
    cells = tuple(mv / 1000 for mv in millivolts)
    assert decode_cells(encode_cells(cells)) == cells
