"""Decoding by id: widths, refusals, both current encodings, temperatures, flags, and the core mapping."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_core.model import Alarm
from gateway_core.plausibility import implausibility
from jk_uart.decode import (
    ALARM_NAMES,
    ID_TABLE,
    JkStatus,
    decode_current,
    decode_frame,
    decode_records,
    decode_temperature,
    walk,
)
from jk_uart.encode import encode_data, encode_reply, encode_temperature
from jk_uart.protocol import JkFrameError, build_frame, parse_frame
from jk_uart.reading import ALARM_MAP, core_alarms, is_booting, to_reading

from .helpers import FRAMES

REPLY = FRAMES["reply_16s_lfp_bd6a17s6p_fw7.1.0H"]


def status(**changes) -> JkStatus:
    base = decode_frame(parse_frame(REPLY))
    return dataclasses.replace(base, **changes)


def reply_with_data(data: bytes) -> bytes:
    return build_frame(data)


@pytest.mark.parametrize(
    ("raw", "amps"),
    [(0x80D0, 2.08), (0x81C5, 4.53), (0x0045, -0.69), (0x07D0, -20.0), (0x0000, 0.0), (0x8000, 0.0)],
)
def test_v1_current_is_sign_magnitude(raw, amps):
    value = decode_current(raw, 1)
    assert value == amps
    assert str(value) != "-0.0"


@pytest.mark.parametrize(("raw", "amps"), [(10000, 0.0), (11000, -10.0), (9500, 5.0)])
@pytest.mark.parametrize("version", [None, 0])
def test_v0_current_is_offset_10000(raw, amps, version):
    assert decode_current(raw, version) == amps


def test_unknown_protocol_version_is_refused():
    with pytest.raises(JkFrameError, match="protocol version 0x02"):
        decode_current(0x80D0, 2)


@pytest.mark.parametrize(
    ("raw", "celsius"), [(0, 0), (16, 16), (99, 99), (100, 0), (101, -1), (110, -10), (140, -40)]
)
def test_temperature_codes(raw, celsius):
    assert decode_temperature(raw) == celsius


def test_temperature_code_above_140_is_refused():
    with pytest.raises(JkFrameError, match="141"):
        decode_temperature(141)


@pytest.mark.parametrize("celsius", [-40, -20, -1, 0, 1, 25, 99])
def test_temperature_encoding_round_trips(celsius):
    assert decode_temperature(encode_temperature(celsius)) == celsius


def test_negative_temperatures_reach_the_reading():
    s = status(mosfet_temperature_c=-5.0, t1_temperature_c=-12.0, t2_temperature_c=-40.0)
    decoded = decode_frame(parse_frame(encode_reply(s)))
    reading = to_reading(decoded, "jk", 1.0)
    assert reading.bms_temperature_c == -5.0
    assert reading.temperatures_c == (-12.0, -40.0)


def test_walk_knows_every_id_of_the_table_and_its_width():
    data = bytes((0x79, 9, 1, 0x0C, 0x80, 2, 0x0C, 0x80, 3, 0x0C, 0x80))
    for data_id, (width, _) in ID_TABLE.items():
        data += bytes((data_id,)) + bytes(width)
    records = walk(data)
    assert set(records) == {0x79, *ID_TABLE}
    assert all(len(records[i]) == ID_TABLE[i][0] for i in ID_TABLE)


def test_unknown_id_is_refused_not_guessed():
    data = encode_data(status())
    with pytest.raises(JkFrameError) as info:
        decode_frame(parse_frame(reply_with_data(data + b"\x88\x00\x00")))
    assert info.value.reason == "unknown_id"
    assert "0x88" in str(info.value)


def test_truncated_record_is_refused():
    data = encode_data(status())
    with pytest.raises(JkFrameError) as info:
        decode_frame(parse_frame(reply_with_data(data[:-1])))
    assert info.value.reason == "truncated_record"
    assert "0xC0" in str(info.value) or "needs" in str(info.value)


def test_duplicate_id_is_refused():
    data = encode_data(status())
    with pytest.raises(JkFrameError, match="twice"):
        decode_frame(parse_frame(reply_with_data(data + b"\x85\x10")))


def test_missing_required_id_is_refused():
    records = walk(encode_data(status()))
    del records[0x83]
    with pytest.raises(JkFrameError, match="0x83"):
        decode_records(records)


@pytest.mark.parametrize("cells", [3, 7, 16, 24, 32])
def test_cell_counts_3_to_32(cells):
    s = status(cell_voltages_v=tuple(3.3 for _ in range(cells)), voltage_v=round(3.3 * cells, 2))
    frame = encode_reply(s)
    assert int.from_bytes(frame[2:4], "big") == 241 + 3 * cells
    assert decode_frame(parse_frame(frame)).cell_count == cells


@pytest.mark.parametrize("cells", [2, 33])
def test_cell_counts_outside_3_to_32_are_refused(cells):
    cell_record = bytes((0x79, 3 * cells)) + b"".join(bytes((i, 0x0C, 0xE4)) for i in range(1, cells + 1))
    records = walk(encode_data(status()))
    data = cell_record + b"".join(bytes((i,)) + v for i, v in records.items() if i not in (0x79, 0x8A, 0xA9))
    with pytest.raises(JkFrameError, match="3 x N"):
        decode_frame(parse_frame(reply_with_data(data)))


def test_cell_count_disagreeing_with_0x8a_is_refused():
    records = walk(encode_data(status()))
    records[0x8A] = b"\x00\x0f"
    with pytest.raises(JkFrameError, match="0x8A"):
        decode_records(records)


def test_misnumbered_cell_is_refused():
    records = walk(encode_data(status()))
    value = bytearray(records[0x79])
    value[1 + 3 * 4] = 9
    records[0x79] = bytes(value)
    with pytest.raises(JkFrameError, match="numbered 9"):
        decode_records(records)


def test_zero_mv_cell_is_kept_flagged_and_implausible_to_the_core():
    cells = list(status().cell_voltages_v)
    cells[3] = 0.0
    decoded = decode_frame(parse_frame(encode_reply(status(cell_voltages_v=tuple(cells)))))
    assert decoded.cell_voltages_v[3] == 0.0
    assert decoded.zero_voltage_cells == (4,)
    reading = to_reading(decoded, "jk", 0.0)
    assert reading.cell_voltages_v[3] == 0.0
    assert Alarm.CELL_ZERO_VOLTAGE in reading.alarms
    assert implausibility(reading) is not None


@pytest.mark.parametrize("bit", range(16))
def test_alarm_bits_have_names_and_core_alarms(bit):
    s = status(alarm_word=1 << bit)
    assert s.alarms == (ALARM_NAMES[bit],)
    expected = {ALARM_MAP[ALARM_NAMES[bit]]} if ALARM_NAMES[bit] in ALARM_MAP else set()
    assert core_alarms(s) == expected


def test_alarm_mapping_follows_the_protocol_bits():
    assert core_alarms(status(alarm_word=1 << 10)) == {Alarm.CELL_OVERVOLTAGE}
    assert core_alarms(status(alarm_word=1 << 11)) == {Alarm.CELL_UNDERVOLTAGE}
    assert core_alarms(status(alarm_word=1 << 1)) == {Alarm.MOSFET_OVERTEMPERATURE}
    assert core_alarms(status(alarm_word=0b11 << 12)) == {Alarm.BMS_INTERNAL}


@pytest.mark.parametrize(
    ("word", "charge", "discharge", "balancing"),
    [
        (0x07, True, True, True),
        (0x03, True, True, False),
        (0x04, False, False, True),
        (0x0B, True, True, False),
    ],
)
def test_status_word_flags(word, charge, discharge, balancing):
    s = status(status_word=word)
    assert (s.charge_mosfet_on, s.discharge_mosfet_on, s.balancing) == (charge, discharge, balancing)
    reading = to_reading(s, "jk", 0.0)
    assert (reading.charge_enabled, reading.discharge_enabled) == (charge, discharge)


def test_to_reading_maps_every_field():
    s = status()
    reading = to_reading(s, "jk_uart", 12.5)
    assert reading.source_id == "jk_uart" and reading.taken_at_s == 12.5
    assert reading.voltage_v == 51.21 and reading.current_a == -0.69 and reading.soc_pct == 15.0
    assert reading.temperatures_c == (16.0, 16.0) and reading.bms_temperature_c == 18.0
    assert reading.bms_charge_current_limit_a == 30.0 and reading.bms_discharge_current_limit_a == 60.0
    assert reading.cycle_count == 17 and reading.capacity_ah == 81.0
    assert reading.alarms == frozenset()
    assert implausibility(reading) is None
    assert to_reading(s, "jk", 0.0, invert_current=True).current_a == 0.69


def test_booting_is_soc_0_with_0_cycles():
    assert is_booting(status(soc_pct=0, cycle_count=0))
    assert not is_booting(status(soc_pct=0, cycle_count=3))
    assert not is_booting(status(soc_pct=12, cycle_count=0))


def test_request_frames_and_other_commands_are_not_decoded():
    with pytest.raises(JkFrameError, match="request"):
        decode_frame(parse_frame(FRAMES["request_read_all_source_pc"]))
    with pytest.raises(JkFrameError, match="command 0x02"):
        decode_frame(parse_frame(build_frame(encode_data(status()), command=0x02)))


def test_reencoding_a_real_reply_gives_back_its_values():
    s = status()
    assert decode_frame(parse_frame(encode_reply(s))) == s


ascii_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
mv = st.integers(0, 4500)


@st.composite
def statuses(draw) -> JkStatus:
    cells = draw(st.lists(mv, min_size=3, max_size=32))
    version = draw(st.sampled_from([1, 0, None]))
    centi = draw(st.integers(-32767, 32767) if version == 1 else st.integers(-55535, 10000))
    new = version is not None
    return JkStatus(
        cell_voltages_v=tuple(v / 1000 for v in cells),
        voltage_v=round(draw(st.integers(0, 65535)) * 0.01, 2),
        current_a=round(abs(centi) * 0.01 * (1 if centi > 0 else -1), 2) + 0.0,
        soc_pct=draw(st.integers(0, 100)),
        mosfet_temperature_c=float(draw(st.integers(-40, 99))),
        t1_temperature_c=float(draw(st.integers(-40, 99))),
        t2_temperature_c=float(draw(st.integers(-40, 99))),
        cycle_count=draw(st.integers(0, 65535)),
        total_cycle_capacity_ah=draw(st.integers(0, 2**32 - 1)),
        capacity_ah=draw(st.integers(0, 2**32 - 1)),
        actual_capacity_ah=draw(st.integers(0, 2**32 - 1)) if new else None,
        alarm_word=draw(st.integers(0, 0xFFFF)),
        status_word=draw(st.integers(0, 0xFFFF)),
        pack_ovp_v=round(draw(st.integers(0, 65535)) * 0.01, 3),
        pack_uvp_v=round(draw(st.integers(0, 65535)) * 0.01, 3),
        cell_ovp_v=round(draw(mv) * 0.001, 3),
        cell_ovp_recovery_v=round(draw(mv) * 0.001, 3),
        cell_uvp_v=round(draw(mv) * 0.001, 3),
        cell_uvp_recovery_v=round(draw(mv) * 0.001, 3),
        cell_difference_protection_v=round(draw(mv) * 0.001, 3),
        discharge_ocp_a=draw(st.integers(0, 65535)),
        charge_ocp_a=draw(st.integers(0, 65535)),
        balance_start_v=round(draw(mv) * 0.001, 3),
        balance_trigger_v=round(draw(mv) * 0.001, 3),
        software_version=draw(ascii_text.filter(lambda t: len(t) <= 15)),
        device_id=draw(ascii_text.filter(lambda t: len(t) <= 8)),
        manufacturer_id=draw(ascii_text.filter(lambda t: len(t) <= 24)) if new else None,
        production_date=draw(ascii_text.filter(lambda t: len(t) <= 4)),
        protocol_version=version,
    )


@settings(max_examples=150, deadline=None)
@given(statuses())
def test_encode_then_decode_is_identity(s):
    assert decode_frame(parse_frame(encode_reply(s))) == s
