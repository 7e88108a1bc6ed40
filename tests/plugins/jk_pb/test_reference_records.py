"""The public records of data/jk_pb_records.txt decode, field by field, to the values read off by hand."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from gateway_core.errors import ImplausibleReply
from gateway_core.model import Alarm
from jk_pb.cellinfo import CellInfo, decode_cell_info
from jk_pb.decode import decode_capture, decode_record
from jk_pb.jk04 import decode_jk04_cell_info
from jk_pb.layout import layout_for_device
from jk_pb.reading import core_alarms, to_reading
from jk_pb.records import Record, parse_record
from jk_pb.settings import Settings, decode_device_info, decode_settings
from jk_pb.stream import Ack, Request

from .helpers import record

# name -> values read from the record bytes (mV / 1000, mA / 1000, 0.1 °C, ...); cells as mV.
CELL_INFO: dict[str, dict[str, Any]] = {
    "cell_24s_24cells_idle_discharge_off": dict(
        layout="24s", cells_mv=[3284, 3280, 3279, 3280, 3280, 3279, 3279, 3281, 3280, 3279, 3280, 3279,
                                3282, 3284, 3279, 3279, 3280, 3279, 3281, 3282, 3282, 3282, 3285, 3281],
        voltage_v=78.735, current_a=0.0, soc=85, soh=100, remaining=42.804, capacity=50.0, cycles=0,
        mosfet=23.4, probes=(20.7, 20.7), alarm_bits=0, charge=True, discharge=False, balancing=False,
        runtime=269340,
    ),
    "cell_24s_13cells_subzero_mosfets_off": dict(
        layout="24s", cells_mv=[3292, 3291, 3292, 3292, 3288, 3292, 3291, 3292, 3292, 3292, 3292, 3292, 3291],
        voltage_v=42.786, current_a=0.0, soc=47, soh=100, remaining=63.168, capacity=132.0, cycles=56,
        mosfet=0.5, probes=(-3.1, -2.9), alarm_bits=0, charge=False, discharge=False, balancing=False,
        runtime=20660739,
    ),
    "cell_24s_16cells_charging": dict(
        layout="24s", cells_mv=[3230, 3231, 3232, 3232, 3233, 3233, 3226, 3235, 3243, 3231, 3231, 3231,
                                3232, 3232, 3233, 3232],
        voltage_v=51.715, current_a=3.045, soc=30, soh=100, remaining=24.439, capacity=81.0, cycles=111,
        mosfet=29.3, probes=(26.3, 26.7), alarm_bits=0, charge=True, discharge=True, balancing=True,
        runtime=15967430,
    ),
    "cell_24s_16cells_discharging": dict(
        layout="24s", cells_mv=[3211, 3223, 3202, 3224, 3207, 3200, 3208, 3218, 3138, 3224, 3211, 3215,
                                3219, 3209, 3225, 3212],
        voltage_v=51.395, current_a=-15.399, soc=30, soh=100, remaining=24.514, capacity=81.0, cycles=111,
        mosfet=29.1, probes=(26.3, 26.7), alarm_bits=0, charge=True, discharge=True, balancing=True,
        runtime=15967573,
    ),
    "cell_32s_16cells_charging": dict(
        layout="32s", cells_mv=[3333, 3326, 3326, 3329, 3329, 3325, 3323, 3329, 3324, 3323, 3326, 3323,
                                3320, 3323, 3323, 3337],
        voltage_v=53.224, current_a=31.881, soc=25, soh=100, remaining=49.286, capacity=200.0, cycles=9,
        mosfet=12.9, probes=(13.4, 12.8, 13.1, 13.5), alarm_bits=0, charge=True, discharge=True,
        balancing=False, runtime=24530060,
    ),
    "cell_32s_16cells_discharging": dict(
        layout="32s", cells_mv=[3381, 3377, 3375, 3377, 3377, 3377, 3377, 3378, 3375, 3374, 3377, 3375,
                                3377, 3378, 3375, 3377],
        voltage_v=54.028, current_a=-0.727, soc=100, soh=100, remaining=312.898, capacity=314.0, cycles=5,
        mosfet=12.8, probes=(11.9, 12.7, 12.6, 11.4), alarm_bits=0, charge=True, discharge=True,
        balancing=False, runtime=3609276,
    ),
    "cell_32s_8cells_cell_ovp_charge_off": dict(
        layout="32s", cells_mv=[3215, 3284, 3231, 3295, 3295, 3215, 3215, 3296],
        voltage_v=26.043, current_a=0.0, soc=100, soh=100, remaining=60.0, capacity=60.0, cycles=0,
        mosfet=30.9, probes=(28.3, 29.5), alarm_bits=0x10, charge=False, discharge=True, balancing=True,
        runtime=198710,
    ),
    "cell_32s_2cells_alarms_charge_off": dict(
        layout="32s", cells_mv=[1471, 1468],
        voltage_v=2.939, current_a=-0.197, soc=0, soh=100, remaining=0.0, capacity=40.0, cycles=0,
        mosfet=21.7, probes=(19.0, 17.7), alarm_bits=0x80201, charge=False, discharge=True, balancing=False,
        runtime=22250,
    ),
    "cell_32s_25cells_no_probes": dict(
        layout="32s", cells_mv=[3645, 3644, 3642, 3643, 3642, 3644, 3645, 3645, 3643, 3645, 3645, 3642, 3643,
                                3645, 3642, 3644, 3642, 3644, 3643, 3645, 3645, 3645, 3645, 3645, 3642],
        voltage_v=91.098, current_a=0.0, soc=99, soh=100, remaining=328.304, capacity=330.0, cycles=0,
        mosfet=None, probes=(), alarm_bits=0x90010, charge=False, discharge=False, balancing=False,
        runtime=228643,
    ),
    "cell_32s_rs485_pb_addr3": dict(
        layout="32s", cells_mv=[3293] * 6 + [3294, 3293, 3294, 3294, 3294, 3294, 3294, 3293, 3294, 3293],
        voltage_v=52.695, current_a=0.0, soc=55, soh=100, remaining=155.219, capacity=280.0, cycles=62,
        mosfet=20.3, probes=(19.5, 19.8, 19.4, 19.9), alarm_bits=0, charge=True, discharge=True,
        balancing=False, runtime=48570884,
    ),
}  # fmt: skip


def decoded(name: str) -> CellInfo:
    return decode_cell_info(parse_record(record(name)), CELL_INFO[name]["layout"])


@pytest.mark.parametrize("name", sorted(CELL_INFO))
def test_cell_info_record_decodes_to_the_hand_read_values(name):
    want = CELL_INFO[name]
    info = decoded(name)
    assert info.cell_voltages_v == tuple(mv / 1000 for mv in want["cells_mv"])
    assert info.cell_count == len(want["cells_mv"]) == info.cell_mask.bit_count()
    assert info.voltage_v == want["voltage_v"]
    assert abs(info.voltage_v - sum(want["cells_mv"]) / 1000) < 0.06  # the pack agrees with its cells
    assert info.current_a == want["current_a"]
    assert (info.soc_pct, info.soh_pct) == (want["soc"], want["soh"])
    assert (info.remaining_capacity_ah, info.capacity_ah) == (want["remaining"], want["capacity"])
    assert info.cycle_count == want["cycles"]
    assert info.mosfet_temperature_c == want["mosfet"]
    assert info.battery_temperatures_c == want["probes"]
    assert info.alarm_bits == want["alarm_bits"]
    assert (info.charge_enabled, info.discharge_enabled) == (want["charge"], want["discharge"])
    assert info.balancing is want["balancing"]
    assert info.runtime_s == want["runtime"]


@pytest.mark.parametrize("name", sorted(CELL_INFO))
def test_an_independent_struct_read_agrees_with_the_decoder(name):
    raw = record(name)
    shift = 32 if CELL_INFO[name]["layout"] == "32s" else 0
    info = decoded(name)
    assert struct.unpack_from("<I", raw, 118 + shift)[0] == round(info.voltage_v * 1000)
    assert struct.unpack_from("<i", raw, 126 + shift)[0] == round(info.current_a * 1000)
    assert raw[141 + shift] == info.soc_pct
    assert struct.unpack_from("<I", raw, 150 + shift)[0] == info.cycle_count


def test_the_current_sign_is_positive_while_charging():
    assert (
        decoded("cell_24s_16cells_charging").current_a > 0 > decoded("cell_24s_16cells_discharging").current_a
    )
    assert (
        decoded("cell_32s_16cells_charging").current_a > 0 > decoded("cell_32s_16cells_discharging").current_a
    )
    reading = to_reading(decoded("cell_32s_16cells_charging"), None, "pack1", 10.0)
    assert reading.current_a == 31.881 and reading.power_w > 0


def test_sub_zero_probes_are_plain_twos_complement():
    info = decoded("cell_24s_13cells_subzero_mosfets_off")
    assert (info.t1_temperature_c, info.t2_temperature_c) == (-3.1, -2.9)
    assert struct.unpack_from("<h", record("cell_24s_13cells_subzero_mosfets_off"), 130)[0] == -31


def test_minus_2000_and_cleared_presence_bits_mean_no_probe():
    info = decoded("cell_32s_25cells_no_probes")
    raw = record("cell_32s_25cells_no_probes")
    assert struct.unpack_from("<h", raw, 162)[0] == -2000  # T1 as sent
    assert info.t1_temperature_c is info.t2_temperature_c is info.mosfet_temperature_c is None
    assert info.extra_temperatures_c == (None, None)  # firmware 11.55 writes 0 there and flags them present
    reading = to_reading(info, None, "pack", 1.0)
    assert reading.temperatures_c == () and reading.bms_temperature_c is None
    eight = decoded("cell_32s_8cells_cell_ovp_charge_off")
    assert eight.temperature_presence == 0b111 and eight.extra_temperatures_c == (None, None)


def test_byte_254_is_a_second_mosfet_probe_not_a_battery_probe():
    for name in ("cell_32s_16cells_charging", "cell_32s_16cells_discharging", "cell_32s_rs485_pb_addr3"):
        info = decoded(name)
        assert info.mosfet2_temperature_c == info.mosfet_temperature_c
        assert info.mosfet2_temperature_c not in info.battery_temperatures_c[2:]


@pytest.mark.parametrize(
    ("name", "names", "core"),
    [
        ("cell_32s_8cells_cell_ovp_charge_off", ("cell_overvoltage",), {Alarm.CELL_OVERVOLTAGE}),
        (
            "cell_32s_2cells_alarms_charge_off",
            ("wire_resistance", "charge_undertemperature", "modify_password_in_time"),
            {Alarm.BATTERY_UNDERTEMPERATURE},
        ),
        (
            "cell_32s_25cells_no_probes",
            ("cell_overvoltage", "charge_mosfet_abnormal", "modify_password_in_time"),
            {Alarm.CELL_OVERVOLTAGE, Alarm.BMS_INTERNAL},
        ),
    ],
)
def test_alarm_bits_become_vendor_names_and_core_alarms(name, names, core):
    info = decoded(name)
    assert info.alarms == names
    assert core_alarms(info) == core
    reading = to_reading(info, None, "pack", 1.0)
    assert reading.alarms == core
    assert reading.charge_enabled is False  # in all three the BMS has switched charging off itself


def test_a_real_record_with_no_enabled_cells_is_implausible():
    raw = parse_record(record("cell_32s_no_cells"))  # framing and sum are fine
    with pytest.raises(ImplausibleReply, match="mask is 0"):
        decode_cell_info(raw, "32s")


@pytest.mark.parametrize("name", [n for n in CELL_INFO if CELL_INFO[n]["layout"] == "24s"])
def test_a_24s_record_read_as_32s_is_refused(name):
    with pytest.raises(ImplausibleReply, match="is it the right one"):
        decode_cell_info(parse_record(record(name)), "32s")


@pytest.mark.parametrize("name", [n for n in CELL_INFO if CELL_INFO[n]["layout"] == "32s"])
def test_a_32s_record_read_as_24s_is_refused(name):
    with pytest.raises(ImplausibleReply):
        decode_cell_info(parse_record(record(name)), "24s")


def test_jk04_float_cells():
    info = decode_jk04_cell_info(parse_record(record("cell_jk04_16cells")))
    assert info.cell_count == 16
    assert info.cell_voltages_v[:3] == (3.3527, 3.3586, 3.3556)
    assert struct.unpack_from("<f", record("cell_jk04_16cells"), 6)[0] == pytest.approx(3.3527, abs=1e-4)
    assert info.voltage_v == pytest.approx(sum(info.cell_voltages_v))
    assert (info.balancing, info.balance_current_a, info.runtime_s) == (True, 1.172, 1873811)
    balancer = decode_jk04_cell_info(parse_record(record("cell_jk04_b5a24s")))
    assert (balancer.cell_count, balancer.balance_current_a, balancer.runtime_s) == (16, -2.599, 591338)


def test_settings_of_a_pb_read_over_rs485():
    s = decode_settings(parse_record(record("settings_rs485_pb_addr3")))
    assert (s.cell_uvp_v, s.cell_uvp_recovery_v, s.cell_ovp_v, s.cell_ovp_recovery_v) == (
        2.7,
        2.901,
        3.65,
        3.444,
    )
    assert (s.max_charge_current_a, s.max_discharge_current_a, s.max_balance_current_a) == (60.0, 100.0, 2.0)
    assert (s.cell_request_charge_v, s.cell_request_float_v) == (3.45, 3.35)
    assert (s.capacity_ah, s.cell_count, s.address) == (280.0, 16, 3)
    assert (s.charge_overtemperature_c, s.charge_undertemperature_c) == (35.0, 5.0)
    assert s.charge_switch and s.discharge_switch and s.balancer_switch


@pytest.mark.parametrize(
    ("name", "ovp", "uvp", "charge", "discharge", "capacity", "cells", "discharge_on"),
    [
        ("settings_24s_bd6a17s6p", 3.65, 2.65, 30.0, 60.0, 81.0, 16, True),
        ("settings_32s_b2a8s20p", 4.1, 3.62, 2.0, 2.0, 13.0, 4, False),
    ],
)
def test_settings_records(name, ovp, uvp, charge, discharge, capacity, cells, discharge_on):
    s = decode_settings(parse_record(record(name)))
    assert (s.cell_ovp_v, s.cell_uvp_v) == (ovp, uvp)
    assert (s.max_charge_current_a, s.max_discharge_current_a) == (charge, discharge)
    assert (s.capacity_ah, s.cell_count, s.discharge_switch) == (capacity, cells, discharge_on)
    assert struct.unpack_from("<I", record(name), 18)[0] == round(ovp * 1000)


def test_settings_give_the_bms_limits_of_the_reading():
    s = decode_settings(parse_record(record("settings_rs485_pb_addr3")))
    reading = to_reading(decoded("cell_32s_rs485_pb_addr3"), s, "pack3", 5.0)
    assert (reading.bms_charge_current_limit_a, reading.bms_discharge_current_limit_a) == (60.0, 100.0)
    assert (reading.capacity_ah, reading.remaining_capacity_ah, reading.soh_pct) == (280.0, 155.219, 100.0)
    assert reading.temperatures_c == (19.5, 19.8, 19.4, 19.9) and reading.bms_temperature_c == 20.3


@pytest.mark.parametrize(
    ("name", "model", "hw", "sw", "serial", "layout"),
    [
        ("device_24s_b2a24s20p", "JK-B2A24S20P", "10.XG", "10.07", "2041803028", "24s"),
        ("device_32s_pb2a16s20p_v19", "JK-PB2A16S20P", "19A", "19.27", "506177F4900", "32s"),
        ("device_rs485_pb_addr3", "JK_PB2A16S20P", "15A", "15.41", "40119491480", "32s"),
        ("device_jk04_b2a16s", "JK-B2A16S", "3.0", "3.3.0", "", "jk04"),
    ],
)
def test_device_info_and_the_layout_it_implies(name, model, hw, sw, serial, layout):
    d = decode_device_info(parse_record(record(name)))
    assert (d.model, d.hardware_version, d.software_version, d.serial_number) == (model, hw, sw, serial)
    assert layout_for_device(d.model, d.hardware_version, d.software_version) == layout


def test_a_captured_rs485_poll_with_echo_padding_and_ack():
    capture = decode_capture(record("poll_rs485_echo_padding_ack_addr3"))
    (item,) = capture.items
    assert isinstance(item.value, CellInfo) and item.value.layout == "32s"
    assert item.value.voltage_v == 52.695
    assert item.address == 3  # from the ACK: the record itself carries no address
    assert capture.skipped == (
        "1 bytes of 00 padding",
        "1 bytes of 00 padding",
        "request to address 3 (register 0x1620): an echo",
        "ACK from address 3 (register 0x1620)",
    )


def test_a_sniffed_line_holds_cell_info_and_settings_with_their_acks():
    capture = decode_capture(record("sniffer_rs485_master_polls_addr1"))
    kinds = [(type(item.value).__name__, item.address) for item in capture.items]
    assert kinds == [("CellInfo", 1), ("Settings", 1)]
    cells, settings = (item.value for item in capture.items)
    assert isinstance(cells, CellInfo) and isinstance(settings, Settings)
    assert cells.cell_count == 16 and cells.voltage_v == pytest.approx(sum(cells.cell_voltages_v), abs=0.05)
    assert (settings.cell_ovp_v, settings.cell_uvp_v, settings.cell_count) == (3.61, 2.6, 16)


def test_a_master_broadcast_ends_with_the_ack_of_address_0():
    capture = decode_capture(record("sniffer_rs485_master_broadcast"))
    (item,) = capture.items
    assert item.address == 0
    assert isinstance(item.value, CellInfo) and item.value.cell_count == 16


def test_records_and_pieces_of_the_captures_are_what_the_stream_parser_reports():
    from jk_pb.stream import StreamParser

    parser = StreamParser()
    pieces = parser.feed(record("sniffer_rs485_master_polls_addr1")) + parser.expire()
    assert [type(p).__name__ for p in pieces] == ["Record", "Ack", "Request", "Record", "Ack", "Request"]
    assert [p.register for p in pieces if isinstance(p, Ack | Request)] == [0x1620, 0x161E, 0x161E, 0x1620]
    assert all(isinstance(p, Record) for p in pieces[::3])
    assert parser.rejections == []


def test_decode_record_dispatches_by_frame_type():
    assert isinstance(decode_record(parse_record(record("settings_rs485_pb_addr3")), "32s"), Settings)
