"""The simulated unit speaks the real bytes: checked with struct, independently of the plugin's decoder."""

from __future__ import annotations

import math
import struct

import pytest

from daly.line_sim import SimulatedLine
from daly.protocol import FrameAssembler, build_request
from daly.simulator import SimulatedDaly
from gateway_core.simkit import FAULTS, SimulatedDevice


def frames(raw: bytes) -> list[bytes]:
    """Split checksum-valid 13-byte frames, checking each independently."""
    out = [raw[i : i + 13] for i in range(0, len(raw), 13)]
    for frame in out:
        assert len(frame) == 13 and frame[0] == 0xA5 and frame[3] == 8 and sum(frame[:12]) & 0xFF == frame[12]
    return out


def test_it_is_a_simulated_device_for_the_core():
    sim = SimulatedDaly()
    assert isinstance(sim, SimulatedDevice) and isinstance(SimulatedLine([sim]), SimulatedDevice)
    assert sim.source_settings("/dev/pts/9") == {
        "port": "/dev/pts/9", "address": 1, "invert_current": False, "baudrate": 9600, "bus_gap_s": 0.0,
    }  # fmt: skip


@pytest.mark.parametrize(("cells", "probes"), [(16, 2), (4, 1), (13, 8), (48, 21)])
def test_multi_frame_replies_have_the_uart_frame_counts(cells, probes):
    sim = SimulatedDaly(cells=cells, probes=probes)
    cell_frames = frames(sim.reply(build_request(0x95)))
    probe_frames = frames(sim.reply(build_request(0x96)))
    assert len(cell_frames) == math.ceil(cells / 3) and len(probe_frames) == math.ceil(probes / 7)
    assert [f[4] for f in cell_frames] == list(range(1, len(cell_frames) + 1))
    slots = [mv for f in cell_frames for mv in struct.unpack(">HHH", f[5:11])]
    assert tuple(mv / 1000 for mv in slots[:cells]) == sim.cell_voltages()
    count = frames(sim.reply(build_request(0x94)))[0]
    assert (count[4], count[5]) == (cells, probes)


def test_the_0x90_current_follows_the_majority_sign_or_the_inverted_one():
    charging = SimulatedDaly(current_a=12.5)
    raw = struct.unpack(">H", frames(charging.reply(build_request(0x90)))[0][8:10])[0]
    assert raw == 30000 - 125
    inverted = SimulatedDaly(current_a=12.5, inverted=True)
    assert struct.unpack(">H", frames(inverted.reply(build_request(0x90)))[0][8:10])[0] == 30000 + 125
    assert frames(inverted.reply(build_request(0x93)))[0][4] == 1  # the state still says charging


def test_reserved_bytes_repeat_the_previous_reply_as_real_units_do():
    sim = SimulatedDaly()
    soc = frames(sim.reply(build_request(0x90)))[0]
    extremes = frames(sim.reply(build_request(0x91)))[0]
    assert extremes[10:12] == soc[10:12]


def test_it_answers_only_its_board_and_refuses_what_it_is_told_to():
    sim = SimulatedDaly(board=3, refuse=(0x97,))
    assert sim.reply(build_request(0x90, board=1)) == b"" and sim.requests == 0
    assert frames(sim.reply(build_request(0x90, board=3)))[0][1] == 3
    assert sim.reply(build_request(0x97, board=3)) == b"" and sim.requests == 2
    assert sim.asked == [0x90, 0x97]


def test_a_line_of_units_answers_with_the_addressed_one():
    line = SimulatedLine([SimulatedDaly(board=1, cells=4), SimulatedDaly(board=2, cells=8)])
    answer = b"".join(chunk.data for chunk in line.respond(build_request(0x94, board=2)))
    assert frames(answer)[0][1:5] == bytes((2, 0x94, 8, 8))
    assert line.requests == 1 and line.unit(2).requests == 1
    with pytest.raises(ValueError, match="distinct board"):
        SimulatedLine([SimulatedDaly(board=1), SimulatedDaly(board=1)])


def test_set_cell_count_keeps_0x94_and_0x95_consistent():
    sim = SimulatedDaly(cells=16)
    sim.set_cell_count(7)
    assert frames(sim.reply(build_request(0x94)))[0][4] == 7
    assert len(frames(sim.reply(build_request(0x95)))) == 3
    with pytest.raises(ValueError):
        sim.set_cell_count(49)


def test_every_core_fault_is_known_and_unknown_ones_are_refused():
    sim = SimulatedDaly()
    for fault in FAULTS:
        sim.inject(fault)
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject("meteor")


def chunks_for(fault: str, data_id: int = 0x95, **kwargs):
    sim = SimulatedDaly(cells=8, **kwargs)
    good = sim.reply(build_request(data_id))
    sim.inject(fault, count=1)
    return sim, good, sim.respond(build_request(data_id))


def test_silence_garbage_and_bad_checksum():
    _, _, chunks = chunks_for("silence")
    assert chunks == []
    _, _, chunks = chunks_for("garbage")
    assert b"\xa5" not in b"".join(c.data for c in chunks)
    _, good, chunks = chunks_for("bad_checksum")
    bad = b"".join(c.data for c in chunks)
    assert len(bad) == len(good) and FrameAssembler().feed(bad) == []


def test_split_trickle_noise_and_echo_still_carry_the_frames():
    for fault in ("split", "trickle", "noise", "echo"):
        sim, _, chunks = chunks_for(fault)
        asm = FrameAssembler()
        got = asm.feed(b"".join(c.data for c in chunks))
        replies = [f for f in got if not f.is_request]
        assert [f.data[0] for f in replies] == [1, 2, 3], fault
        if fault == "echo":
            assert got[0].is_request and got[0].raw == build_request(0x95)
        if fault == "trickle":
            assert all(len(c.data) == 1 and c.delay_s == sim.trickle_byte_s for c in chunks)
        if fault == "split":
            assert len(chunks) == 2 and chunks[1].delay_s == sim.split_pause_s


def test_a_fault_with_a_count_ends_after_that_many_replies():
    sim = SimulatedDaly()
    sim.inject("silence", count=2)
    assert sim.reply(build_request(0x90)) == b"" and sim.reply(build_request(0x91)) == b""
    assert sim.reply(build_request(0x92)) != b""


def test_nonsense_is_a_valid_frame_with_an_impossible_soc():
    sim = SimulatedDaly()
    sim.inject("nonsense", count=1)
    assert sim.reply(build_request(0x94)) != b""  # other ids stay sane; the count is not used up
    soc = frames(sim.reply(build_request(0x90)))[0]
    assert struct.unpack(">H", soc[10:12])[0] == 1500
    assert struct.unpack(">H", frames(sim.reply(build_request(0x90)))[0][10:12])[0] == 500


def test_unplug_and_plug_flip_the_flag_transports_follow():
    sim = SimulatedDaly()
    sim.unplug()
    assert sim.unplugged
    sim.plug()
    assert not sim.unplugged


def test_the_pack_charges_and_the_bms_cuts_charging_at_over_voltage():
    sim = SimulatedDaly(cells=4, soc_pct=99.0, current_a=100.0, capacity_ah=10.0)
    sim.step(60.0)
    status = sim.status
    assert not status.charge_mosfet_on and "cell_voltage_high_l2" in status.failures
    assert sim.current_a == 0.0 and status.state == "stationary"
    sim.set_current(-20.0)
    sim.step(300.0)
    assert sim.status.charge_mosfet_on and sim.status.state == "discharging"
