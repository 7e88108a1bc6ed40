"""Real public Daly frames (data/daly_frames.txt, provenance in data/README.md), decoded field by field.

Each id is decoded twice: by the plugin, and independently here with ``struct`` from the byte layout
of the protocol notes, so a shared mistake in one reading of the layout cannot pass unnoticed.
"""

from __future__ import annotations

import struct

import pytest

from daly.decode import assemble
from daly.fields import (
    decode_cell_extremes,
    decode_failures,
    decode_mosfets,
    decode_pack,
    decode_status,
    decode_temperature_extremes,
)
from daly.protocol import parse_frame, split_frames
from daly.reading import core_alarms, to_json, to_reading
from gateway_core.errors import ImplausibleReply
from gateway_core.model import Alarm
from gateway_core.plausibility import implausibility

from .helpers import FRAMES, frame_list


def data(name: str, index: int = 0) -> bytes:
    return parse_frame(frame_list(name)[index]).data


# -- 0x90 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "volts", "raw", "amps", "soc"),
    [
        ("mppsolar_0x90_soc88.8", 53.2, 30021, -2.1, 88.8),
        ("mppsolar_0x90_soc95.6", 52.8, 30063, -6.3, 95.6),
        ("powermon_0x90_soc77.8", 26.5, 30159, -15.9, 77.8),
    ],
)
def test_0x90_pack_voltage_current_soc(name, volts, raw, amps, soc):
    voltage, gathered, current, soc_raw = struct.unpack(">4H", data(name))
    assert (voltage / 10, gathered, current, soc_raw / 10) == (volts, 0, raw, soc)
    pack = decode_pack(data(name))
    assert (pack.voltage_v, pack.gathered_voltage_v, pack.current_raw, pack.soc_pct) == (volts, 0.0, raw, soc)
    assert pack.current_a == amps  # raw above 30000: discharging, negative by the core's sign


def test_the_majority_sign_matches_the_state_in_five_captured_polls():
    """tomatensaus/bms: raw 30187..30526 with 0x93 state 2 (discharging) in every poll."""
    for poll in (
        "tomatensaus_poll1",
        "tomatensaus_poll2",
        "tomatensaus_poll3",
        "tomatensaus_poll4",
        "tomatensaus_poll5",
    ):
        by_id = {frame.data_id: frame.data for frame in map(parse_frame, frame_list(poll))}
        raw = struct.unpack(">H", by_id[0x90][4:6])[0]
        assert raw > 30000 and by_id[0x93][0] == 2
        assert decode_pack(by_id[0x90]).current_a < 0
        assert decode_mosfets(by_id[0x93]).state == "discharging"


def test_0x90_of_a_pack_discharging_at_50_a():
    pack = decode_pack(data("tomatensaus_poll1", 0))
    assert (pack.voltage_v, pack.current_raw, pack.current_a, pack.soc_pct) == (51.5, 30500, -50.0, 82.4)


# -- 0x91 / 0x92 ------------------------------------------------------------------------------


def test_0x91_highest_and_lowest_cell_with_stale_tail():
    raw = data("mppsolar_0x91")
    hi_mv, hi_no, lo_mv, lo_no = struct.unpack(">HBHB", raw[:6])
    assert (hi_mv, hi_no, lo_mv, lo_no) == (3328, 15, 3326, 1)
    ext = decode_cell_extremes(raw)
    assert (ext.max_cell_v, ext.max_cell_number, ext.min_cell_v, ext.min_cell_number) == (3.328, 15, 3.326, 1)
    assert raw[6:8] == data("mppsolar_0x90_soc88.8")[6:8]  # stale: the SOC bytes of the 0x90 before it


def test_0x91_of_the_discharging_pack():
    ext = decode_cell_extremes(data("tomatensaus_poll1", 1))
    assert (ext.max_cell_v, ext.max_cell_number, ext.min_cell_v, ext.min_cell_number) == (3.255, 7, 3.091, 5)


@pytest.mark.parametrize(("name", "celsius"), [("mppsolar_0x92", 15.0), ("tomatensaus_0x92", 31.0)])
def test_0x92_hottest_and_coldest_probe(name, celsius):
    raw = data(name)
    assert raw[0] - 40 == raw[2] - 40 == celsius and raw[1] == raw[3] == 1
    ext = decode_temperature_extremes(raw)
    assert (ext.max_temperature_c, ext.max_probe, ext.min_temperature_c, ext.min_probe) == (
        celsius,
        1,
        celsius,
        1,
    )


def test_0x92_below_zero_derived_from_a_real_frame():
    ext = decode_temperature_extremes(data("derived_0x92_minus12c_minus5c"))
    assert (ext.max_temperature_c, ext.max_probe, ext.min_temperature_c, ext.min_probe) == (-5.0, 1, -12.0, 2)


# -- 0x93 / 0x94 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "index", "state", "life", "mah"),
    [
        ("mppsolar_0x93_discharging", 0, "discharging", 120, 248640),
        ("mppsolar_0x93_stationary", 0, "stationary", 154, 172760),
        ("tomatensaus_poll1", 2, "discharging", 113, 296640),
    ],
)
def test_0x93_state_mosfets_life_remaining(name, index, state, life, mah):
    raw = data(name, index)
    code, charge, discharge, bms_life, remaining = struct.unpack(">BBBBI", raw)
    assert (charge, discharge, bms_life, remaining) == (1, 1, life, mah)
    assert {0: "stationary", 1: "charging", 2: "discharging"}[code] == state
    m = decode_mosfets(raw)
    assert (m.state, m.charge_mosfet_on, m.discharge_mosfet_on, m.bms_life) == (state, True, True, life)
    assert m.remaining_capacity_ah == mah / 1000


@pytest.mark.parametrize(
    ("name", "index", "io", "cycles"), [("mppsolar_0x94_16s", 0, 0, 3), ("tomatensaus_poll1", 3, 0x02, 5)]
)
def test_0x94_counts_and_cycles(name, index, io, cycles):
    raw = data(name, index)
    cells, probes, charger, load, io_bits, cycle_count = struct.unpack(">BBBBBH", raw[:7])
    assert (cells, probes, charger, load, io_bits, cycle_count) == (16, 1, 0, 0, io, cycles)
    s = decode_status(raw)
    assert (s.cell_count, s.probe_count, s.charger_connected, s.load_connected) == (16, 1, False, False)
    assert (s.io_bits, s.cycle_count) == (io, cycles)


# -- 0x95 / 0x96 ------------------------------------------------------------------------------

SNPG_CELLS_MV = (
    3278,
    3279,
    3278,
    3279,
    3279,
    3281,
    3281,
    3276,
    3278,
    3280,
    3275,
    3277,
    3279,
    3276,
    3280,
    3277,
)


def test_0x95_six_uart_frames_of_16_cells_skip_the_two_stale_slots():
    frames = [parse_frame(f) for f in frame_list("snpg_poll_16s")]
    cell_frames = [f for f in frames if f.data_id == 0x95]
    slots = [mv for f in cell_frames for mv in struct.unpack(">xHHHx", f.data)]
    assert [f.data[0] for f in cell_frames] == [1, 2, 3, 4, 5, 6]
    assert tuple(slots[:16]) == SNPG_CELLS_MV and slots[16:] == [0x0CCC, 0x0CD0]  # stale, not zeros
    poll = assemble(frames)
    assert poll.cell_voltages_v == tuple(mv / 1000 for mv in SNPG_CELLS_MV)


def test_0x95_sixteen_bluetooth_frames_with_zero_padding():
    poll = assemble(split_frames(FRAMES["mppsolar_0x94_16s"] + FRAMES["mppsolar_0x95_16s_16frames"]))
    expected = (
        3325,
        3326,
        3326,
        3326,
        3326,
        3326,
        3326,
        3326,
        3326,
        3326,
        3324,
        3326,
        3326,
        3327,
        3326,
        3324,
    )
    assert poll.cell_voltages_v == tuple(mv / 1000 for mv in expected)


def test_0x96_one_probe_in_two_frames():
    frames = split_frames(FRAMES["mppsolar_0x94_16s"] + FRAMES["mppsolar_0x96_1probe_2frames"])
    assert [f.data[0] for f in frames[1:]] == [1, 2] and frames[1].data[1] - 40 == 15
    assert assemble(frames).temperatures_c == (15.0,)


def test_0x96_below_zero_derived_from_a_real_frame():
    frames = split_frames(FRAMES["mppsolar_0x94_16s"] + FRAMES["derived_0x96_minus5c"])
    assert assemble(frames).temperatures_c == (-5.0,)


# -- 0x97 / 0x98 ------------------------------------------------------------------------------


def test_0x97_is_recognised_but_not_decoded():
    frames = [parse_frame(f) for f in frame_list("snpg_poll_16s")]
    balance = next(f for f in frames if f.data_id == 0x97)
    assert balance.data == bytes(8)
    poll = assemble([balance])
    assert poll.ids == () and not hasattr(poll, "balancing")


def test_0x98_soc_low_level_two_with_zero_remaining_capacity():
    frames = [parse_frame(f) for f in frame_list("snpg_poll_16s")]
    failure = next(f for f in frames if f.data_id == 0x98)
    assert int.from_bytes(failure.data[:7], "little") == 1 << (2 * 8 + 7)  # byte 2, bit 7
    assert decode_failures(failure.data).names == ("soc_low_l2",)
    assert decode_failures(failure.data).fault_code == 0
    mosfets = next(f for f in frames if f.data_id == 0x93)
    assert decode_mosfets(mosfets.data).remaining_capacity_ah == 0.0  # what the alarm is about


# -- whole polls ------------------------------------------------------------------------------

MPPSOLAR_POLL = (
    "mppsolar_0x90_soc88.8", "mppsolar_0x91", "mppsolar_0x92", "mppsolar_0x93_discharging",
    "mppsolar_0x94_16s", "mppsolar_0x95_16s_16frames", "mppsolar_0x96_1probe_2frames",
)  # fmt: skip


def mppsolar_poll() -> bytes:
    return b"".join(FRAMES[name] for name in MPPSOLAR_POLL)


def test_a_whole_poll_becomes_a_plausible_reading():
    poll = assemble(split_frames(mppsolar_poll()))
    reading = to_reading(poll, "pack1", 12.5, capacity_ah=260.0)
    assert (reading.voltage_v, reading.current_a, reading.soc_pct) == (53.2, -2.1, 88.8)
    assert reading.cell_count == 16 and reading.min_cell_v == 3.324 and reading.max_cell_v == 3.327
    assert reading.temperatures_c == (15.0,)
    assert reading.charge_enabled and reading.discharge_enabled and reading.alarms == frozenset()
    assert (reading.cycle_count, reading.remaining_capacity_ah, reading.capacity_ah) == (3, 248.64, 260.0)
    assert (reading.source_id, reading.taken_at_s) == ("pack1", 12.5)
    assert implausibility(reading) is None


def test_the_16_cell_capture_without_0x90_decodes_but_gives_no_reading():
    poll = assemble(split_frames(FRAMES["snpg_poll_16s"]))  # the trailing D8 settings reply is skipped
    assert poll.ids == (0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x98)
    assert poll.temperatures_c == (22.0,) and poll.mosfets is not None and poll.mosfets.state == "discharging"
    assert core_alarms(poll) == {Alarm.LOW_CAPACITY}
    doc = to_json(poll)
    assert doc["cell_count"] == 16 and doc["alarms"] == ["low_capacity"] and "voltage_v" not in doc
    with pytest.raises(ImplausibleReply, match="without 0x90"):
        to_reading(poll, "pack1", 0.0)


def test_a_poll_cut_after_the_first_0x95_frame_is_refused():
    """tomatensaus logged only 13 bytes of the 0x95 reply: 0x94 says 16 cells, one frame holds 3."""
    with pytest.raises(ImplausibleReply, match="16 cells; the 1 0x95 frame"):
        assemble(split_frames(FRAMES["tomatensaus_poll1"]))


def test_reserved_bytes_are_stale_copies_of_the_previous_reply():
    """The chains that show the captures were taken in order (and that those bytes mean nothing)."""
    assert data("mppsolar_0x92")[4:8] == data("mppsolar_0x91")[4:8]
    assert (
        data("tomatensaus_poll1", 3)[7] == data("tomatensaus_poll1", 2)[7] == data("tomatensaus_poll1", 4)[7]
    )
    assert data("mppsolar_0x94_16s")[7] == data("mppsolar_0x93_discharging")[7]
