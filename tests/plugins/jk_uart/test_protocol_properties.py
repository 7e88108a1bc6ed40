"""Hypothesis: the parser never raises, never accepts a bad checksum, and resyncs after anything."""

from __future__ import annotations

import contextlib
import itertools
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jk_uart.decode import decode_frame
from jk_uart.protocol import Frame, FrameAssembler, JkFrameError, check_candidate, parse_frame

from .helpers import FRAMES, with_checksum_fixed

LONG = os.environ.get("GATEWAY_LONG_FUZZ") == "1"
EXAMPLES = 5000 if LONG else 200
VALID = [
    with_checksum_fixed(frame) if name.startswith("reply_20s_old") else frame
    for name, frame in sorted(FRAMES.items())
]
REPLIES = [frame for frame in VALID if frame[10] == 1]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

valid_frames = st.sampled_from(VALID)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def drain(asm: FrameAssembler, pieces: list[bytes]) -> list[Frame]:
    """Feed every piece, then let deadlines pass until nothing is pending any more."""
    frames: list[Frame] = []
    for piece in pieces:
        frames += asm.feed(piece)
    for _ in range(1000):
        before = asm.pending
        frames += asm.expire()
        if asm.pending == before:
            break
    return frames


def assert_sound(frames: list[Frame]) -> None:
    """Every frame returned verifies; decoding raises nothing but the documented error."""
    for frame in frames:
        assert check_candidate(frame.raw) is None
        assert len(frame.raw) == int.from_bytes(frame.raw[2:4], "big") + 2
        if not frame.is_request:
            with contextlib.suppress(JkFrameError):
                decode_frame(frame)


@FUZZ
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=20))
def test_arbitrary_bytes_never_raise(data, cuts):
    assert_sound(drain(FrameAssembler(), chunks(data, cuts)))
    try:
        decode_frame(parse_frame(data))
    except JkFrameError as exc:
        assert exc.reason


@FUZZ
@given(st.binary(max_size=600).map(lambda tail: b"NW" + tail))
def test_bytes_after_a_frame_start_never_raise(data):
    assert_sound(drain(FrameAssembler(), [data]))


@FUZZ
@given(valid_frames, st.data())
def test_truncations_yield_nothing_and_parse_error(frame, data):
    cut = data.draw(st.integers(0, len(frame) - 1))
    asm = FrameAssembler()
    assert drain(asm, [frame[:cut]]) == []
    try:
        parse_frame(frame[:cut])
    except JkFrameError as exc:
        assert exc.reason in ("truncated", "garbage", "length")
    else:
        raise AssertionError("a truncated frame was accepted")


@FUZZ
@given(valid_frames, st.data())
def test_single_byte_corruption_is_never_accepted(frame, data):
    pos = data.draw(st.integers(0, len(frame) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != frame[pos]))
    bad = frame[:pos] + bytes((value,)) + frame[pos + 1 :]
    frames = drain(FrameAssembler(), [bad])
    assert_sound(frames)
    assert all(f.raw != bad for f in frames)
    try:
        parse_frame(bad)
    except JkFrameError:
        pass
    else:
        raise AssertionError(f"corruption at {pos} accepted")


def test_every_split_point_decodes_identically():
    for frame in REPLIES:
        whole = decode_frame(parse_frame(frame))
        for cut in range(1, len(frame)):
            asm = FrameAssembler()
            frames = asm.feed(frame[:cut]) + asm.feed(frame[cut:])
            assert [f.raw for f in frames] == [frame]
            assert decode_frame(frames[0]) == whole


@FUZZ
@given(st.sampled_from(REPLIES), st.lists(st.integers(0, 400), max_size=30))
def test_frame_split_across_many_reads_decodes_identically(frame, cuts):
    asm = FrameAssembler()
    frames = [f for piece in chunks(frame, cuts) for f in asm.feed(piece)]
    assert [f.raw for f in frames] == [frame]
    assert decode_frame(frames[0]) == decode_frame(parse_frame(frame))


@FUZZ
@given(
    st.sampled_from(REPLIES),
    st.sampled_from(REPLIES),
    st.binary(max_size=300),
    st.binary(max_size=300),
    st.lists(st.integers(0, 1500), max_size=10),
)
def test_garbage_before_and_between_frames_is_skipped(first, second, garbage1, garbage2, cuts):
    stream = garbage1 + first + garbage2 + second
    frames = [f for f in drain(FrameAssembler(), chunks(stream, cuts)) if not f.is_request]
    assert [f.raw for f in frames] == [first, second]
