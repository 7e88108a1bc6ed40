"""Hypothesis over the parser and the decoder: splits, garbage, echoes, reserved bytes, round trips."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from daly.decode import assemble
from daly.encode import DalyState, reply_frames
from daly.protocol import FRAME_SIZE, POLL_IDS, FrameAssembler, build_frame, build_reply, build_request

boards = st.integers(min_value=1, max_value=16)
ids = st.sampled_from(sorted(POLL_IDS))
payloads = st.binary(min_size=8, max_size=8)
replies = st.builds(lambda b, i, d: build_reply(i, d, b), boards, ids, payloads)
requests = st.builds(lambda b, i: build_request(i, b), boards, ids)
garbage = st.binary(max_size=40).map(lambda g: g.replace(b"\xa5", b"\x5a"))


def feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[bytes], FrameAssembler]:
    asm = FrameAssembler(keep=10_000)
    out = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        out += [f.raw for f in asm.feed(data[start:end])]
    return out, asm


@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=12))
def test_any_bytes_in_any_pieces_never_raise_and_every_byte_is_accounted_for(data, cuts):
    frames, asm = feed_in_pieces(data, cuts)
    dropped = sum(r.dropped for r in asm.rejections)
    assert len(frames) * FRAME_SIZE + dropped + asm.pending == len(data)
    assert asm.pending < FRAME_SIZE
    assert all(r.reason in ("garbage", "address", "length", "checksum") for r in asm.rejections)


@given(st.lists(st.one_of(replies, requests), min_size=1, max_size=12), st.lists(st.integers(min_value=0)))
def test_valid_frames_come_out_whole_however_the_bytes_are_split(frames, cuts):
    out, asm = feed_in_pieces(b"".join(frames), cuts)
    assert out == frames and asm.rejections == [] and asm.pending == 0


@given(st.lists(st.tuples(garbage, st.one_of(replies, requests)), min_size=1, max_size=8), garbage)
def test_garbage_without_a_start_byte_never_hides_a_frame(pieces, tail):
    stream = b"".join(g + f for g, f in pieces) + tail
    out, asm = feed_in_pieces(stream, [])
    assert out == [f for _, f in pieces]
    assert all(r.reason == "garbage" for r in asm.rejections)


@given(st.lists(st.tuples(requests, replies), min_size=1, max_size=6))
def test_echoed_requests_are_told_apart_from_replies(pairs):
    asm = FrameAssembler()
    out = asm.feed(b"".join(req + rep for req, rep in pairs))
    assert [f.is_request for f in out] == [flag for _ in pairs for flag in (True, False)]


@given(st.binary(min_size=13, max_size=13))
def test_a_corrupted_sum_is_always_refused(frame):
    body = bytes((0xA5, 0x01, 0x90, 0x08)) + frame[4:12]
    good = build_frame(0x01, 0x90, frame[4:12])
    bad = body + bytes(((good[-1] + 1 + frame[0] % 255) & 0xFF,))
    asm = FrameAssembler()
    assert asm.feed(bad) == [] and asm.rejections[0].reason == "checksum"


cell_mv = st.integers(min_value=2500, max_value=3650)
probe_c = st.integers(min_value=-30, max_value=70)


@st.composite
def states(draw: st.DrawFn) -> DalyState:
    cells = tuple(v / 1000 for v in draw(st.lists(cell_mv, min_size=1, max_size=48)))
    temps = tuple(float(t) for t in draw(st.lists(probe_c, min_size=1, max_size=21)))
    current = draw(st.integers(min_value=-2000, max_value=2000)) / 10
    return DalyState(
        cell_voltages_v=cells,
        temperatures_c=temps,
        voltage_v=round(sum(cells), 1),
        current_a=current,
        soc_pct=draw(st.integers(min_value=0, max_value=1000)) / 10,
        state="charging" if current >= 1 else "discharging" if current <= -1 else "stationary",
        charge_mosfet_on=draw(st.booleans()),
        discharge_mosfet_on=draw(st.booleans()),
        remaining_capacity_ah=draw(st.integers(min_value=0, max_value=10**6)) / 1000,
        cycle_count=draw(st.integers(min_value=0, max_value=65535)),
    )


@settings(max_examples=150)
@given(states(), st.binary(min_size=8, max_size=8), boards)
def test_a_poll_round_trips_and_reserved_bytes_never_matter(state, stale, board):
    raw = b"".join(b"".join(reply_frames(state, data_id, board, stale)) for data_id in POLL_IDS)
    poll = assemble(FrameAssembler().feed(raw))
    assert poll.board == board
    assert poll.cell_voltages_v == state.cell_voltages_v
    assert poll.temperatures_c == state.temperatures_c
    assert (
        poll.pack is not None
        and poll.pack.current_a == state.current_a
        and poll.pack.soc_pct == state.soc_pct
    )
    assert poll.mosfets is not None and poll.mosfets.remaining_capacity_ah == state.remaining_capacity_ah
    assert poll.status is not None and poll.status.cycle_count == state.cycle_count
    # independently of the decoder: the 0x90 frame's fields, by struct
    pack = next(f for f in FrameAssembler().feed(raw) if f.data_id == 0x90)
    _volts, _, current_raw, soc = struct.unpack(">4H", pack.data)
    assert (30000 - current_raw) / 10 == state.current_a and soc / 10 == state.soc_pct
