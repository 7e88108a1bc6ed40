"""The simulated JK-PB line speaks the real bytes (checked with struct); the encoder inverts the decoder."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_core.simkit import FAULTS, SimulatedDevice
from jk_pb.cellinfo import CellInfo, decode_cell_info
from jk_pb.encode import encode_cell_info, encode_settings
from jk_pb.modbus import build_ack, build_request, crc16
from jk_pb.protocol_jkpbsim import parse_url
from jk_pb.records import CELL_INFO, DEVICE_INFO, SETTINGS, checksum, parse_record
from jk_pb.settings import decode_settings
from jk_pb.simulator import SimulatedLine, make_simulator


def reply(line: SimulatedLine, address: int, frame_type: int = CELL_INFO) -> bytes:
    return b"".join(chunk.data for chunk in line.respond(build_request(address, frame_type)))


def test_the_registered_simulator_is_a_simulated_device_with_three_packs():
    line = make_simulator(16)
    assert isinstance(line, SimulatedDevice)
    assert sorted(line.packs) == [1, 2, 3]
    assert line.source_settings("/dev/pts/9") == {"port": "/dev/pts/9", "address": 1}


def test_a_pack_answers_with_record_padding_ack_padding_read_with_struct():
    line = SimulatedLine((1, 4))
    line.pack(4).set_current(-7.25)
    wire = reply(line, 4)
    raw, tail = wire[:300], wire[300:]
    assert raw[:4] == bytes.fromhex("55AAEB90") and raw[4] == CELL_INFO
    assert raw[299] == checksum(raw[:299])
    assert tail == b"\x00" + build_ack(4, 0x1620) + b"\x00"
    assert crc16(tail[1:7]) == int.from_bytes(tail[7:9], "little")
    info = line.pack(4).cell_info()
    assert struct.unpack_from("<I", raw, 70)[0] == 0xFFFF  # 32S enabled-cell mask: 16 cells
    assert struct.unpack_from("<I", raw, 150)[0] == round(info.voltage_v * 1000)
    assert struct.unpack_from("<i", raw, 158)[0] == -7250  # mA, negative while discharging
    assert raw[173] == info.soc_pct
    assert struct.unpack_from("<h", raw, 162)[0] == round(info.t1_temperature_c * 10)  # type: ignore[operator]


def test_settings_and_device_info_carry_the_address_and_the_limits():
    line = SimulatedLine((2,))
    settings = reply(line, 2, SETTINGS)[:300]
    assert struct.unpack_from("<I", settings, 270)[0] == 2
    assert struct.unpack_from("<I", settings, 50)[0] == 100_000  # max charge current, mA
    assert decode_settings(parse_record(settings)).max_discharge_current_a == 150.0
    device = reply(line, 2, DEVICE_INFO)[:300]
    assert device[6:19] == b"JK_PB2A16S20P"


def test_only_the_addressed_pack_answers_and_a_dropped_pack_is_silent():
    line = SimulatedLine((1, 2, 3))
    assert reply(line, 5) == b""
    line.drop(2)
    assert reply(line, 2) == b""
    assert reply(line, 3)[:4] == bytes.fromhex("55AAEB90")
    line.restore(2)
    assert len(reply(line, 2)) == 310
    assert line.requests == 4 and line.answered == {1: 0, 2: 1, 3: 1}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_standard_fault_changes_the_reply(fault):
    line = SimulatedLine((1,), split_pause_s=0.01, trickle_byte_s=0.001)
    clean = reply(line, 1)
    line.inject(fault, 1)
    chunks = line.respond(build_request(1, CELL_INFO))
    faulty = b"".join(c.data for c in chunks)
    if fault == "silence":
        assert chunks == []
    elif fault == "garbage":
        assert bytes.fromhex("55AAEB90") not in faulty
    elif fault == "bad_checksum":
        assert faulty[299] != checksum(faulty[:299])
    elif fault == "nonsense":
        assert faulty[299] == checksum(faulty[:299]) and faulty[173] == 255
    elif fault in ("split", "trickle"):
        assert faulty == clean and len(chunks) > 1
    elif fault == "noise":
        assert faulty.endswith(clean) and len(faulty) > len(clean)
    else:
        assert faulty == build_request(1, CELL_INFO) + clean
    assert reply(line, 1) == clean  # the count ran out


def test_a_fault_for_one_pack_leaves_the_others_alone():
    line = SimulatedLine((1, 2))
    line.inject_pack(1, "silence")
    assert reply(line, 1) == b"" and len(reply(line, 2)) == 310


def test_cell_count_changes_keep_the_record_consistent():
    line = SimulatedLine((1,))
    line.set_cell_count(32)
    info = decode_cell_info(parse_record(reply(line, 1)[:300]), "32s")
    assert info.cell_count == 32 and info.voltage_v == pytest.approx(sum(info.cell_voltages_v), abs=0.001)
    with pytest.raises(ValueError, match="1 to 32"):
        line.set_cell_count(33)
    with pytest.raises(ValueError, match="address"):
        SimulatedLine((0,))


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("jkpbsim://?packs=x", "invalid literal"),
        ("jkpbsim://?layout=16s", "layout"),
        ("jkpbsim://?colour=1", "unknown"),
    ],
)
def test_bad_simulator_urls_are_refused(url, text):
    with pytest.raises(ValueError, match=text):
        parse_url(url)


def test_simulator_url_options():
    kwargs, name, manual, speed = parse_url(
        "jkpbsim://?addresses=2,5&cells=8&soc=40&name=b&clock=manual&speed=3"
    )
    assert kwargs == {"addresses": (2, 5), "cells": 8, "soc_pct": 40.0}
    assert (name, manual, speed) == ("b", True, 3.0)


temperatures = st.one_of(st.none(), st.integers(min_value=-400, max_value=1000).map(lambda t: t / 10))


@st.composite
def cell_infos(draw) -> CellInfo:
    layout = draw(st.sampled_from(["24s", "32s"]))
    count = draw(st.integers(min_value=1, max_value=24 if layout == "24s" else 32))
    cells = tuple(m / 1000 for m in draw(st.lists(st.integers(2500, 3650), min_size=count, max_size=count)))
    voltage = round(sum(cells), 3)
    is_32 = layout == "32s"
    base = make_simulator().pack(1).cell_info()
    return dataclasses.replace(
        base,
        layout=layout,
        cell_mask=(1 << count) - 1,
        cell_voltages_v=cells,
        wire_resistances_ohm=tuple(0.05 for _ in cells),
        voltage_v=voltage,
        current_a=draw(st.integers(-300_000, 300_000)) / 1000,
        soc_pct=draw(st.integers(0, 100)),
        soh_pct=draw(st.integers(0, 100)),
        cycle_count=draw(st.integers(0, 10_000)),
        t1_temperature_c=draw(temperatures),
        t2_temperature_c=draw(temperatures),
        mosfet_temperature_c=draw(temperatures),
        mosfet2_temperature_c=draw(temperatures) if is_32 else None,
        extra_temperatures_c=(draw(temperatures.filter(lambda t: t != 0)), None) if is_32 else (),
        alarm_bits=draw(st.integers(0, 0xFFFFFFFF if is_32 else 0xFFFF)),
        charge_enabled=draw(st.booleans()),
        discharge_enabled=draw(st.booleans()),
        balancing_action=draw(st.integers(0, 2)),
        precharge_enabled=draw(st.booleans()) if is_32 else None,
        heating=draw(st.booleans()) if is_32 else None,
        temperature_presence=None,
    )


@given(cell_infos())
def test_encoding_then_decoding_gives_back_every_field(info):
    decoded = decode_cell_info(parse_record(encode_cell_info(info)), info.layout)
    presence = decoded.temperature_presence
    assert dataclasses.replace(decoded, temperature_presence=None) == info
    assert (presence is None) == (info.layout == "24s")


def test_settings_round_trip():
    settings = make_simulator().pack(2).settings()
    assert decode_settings(parse_record(encode_settings(settings))) == settings
