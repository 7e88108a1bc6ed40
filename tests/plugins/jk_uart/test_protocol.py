"""Framing: the request, the checksum, the strict parser and the resynchronising assembler."""

from __future__ import annotations

import pytest

from jk_uart.protocol import (
    MAX_LENGTH,
    FrameAssembler,
    JkFrameError,
    Rejection,
    build_frame,
    build_request,
    checksum,
    parse_frame,
)

from .helpers import FRAMES

REPLY = FRAMES["reply_16s_lfp_bd6a17s6p_fw7.1.0H"]
OTHER = FRAMES["reply_14s_protocol_v1_doc_example"]


def test_checksum_is_masked_to_16_bits():
    assert checksum(b"\xff" * 300) == (255 * 300) & 0xFFFF


def test_request_has_length_19_and_21_bytes():
    request = build_request()
    assert len(request) == 21
    assert int.from_bytes(request[2:4], "big") == 19


def test_build_frame_rejects_impossible_sizes():
    with pytest.raises(ValueError):
        build_frame(b"")
    with pytest.raises(ValueError):
        build_frame(bytes(MAX_LENGTH))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (REPLY[:100], "truncated"),
        (b"\x00" + REPLY, "garbage"),
        (REPLY + b"\x00", "length"),
        (REPLY[:2] + b"\x00\x05" + REPLY[4:], "length"),
        (REPLY[:-2] + b"\x00\x00", "checksum"),
        (REPLY[:-5] + b"\x69" + REPLY[-4:], "trailer"),
        (REPLY[:-4] + b"\x00\x01" + REPLY[-2:], "trailer"),
    ],
    ids=["truncated", "garbage", "trailing-bytes", "length-bounds", "checksum", "end-marker", "crc-bytes"],
)
def test_parse_frame_refuses_with_a_reason(raw, reason):
    with pytest.raises(JkFrameError) as info:
        parse_frame(raw)
    assert info.value.reason == reason
    assert str(info.value)


def test_assembler_returns_a_frame_the_moment_it_is_complete():
    asm = FrameAssembler()
    assert asm.feed(REPLY[:-1]) == []
    assert asm.waiting_for() == len(REPLY)
    frames = asm.feed(REPLY[-1:])
    assert [f.raw for f in frames] == [REPLY]
    assert asm.pending == 0
    assert frames[0].transport == 1 and frames[0].command == 6


def test_two_frames_in_one_read_are_both_returned():
    asm = FrameAssembler()
    assert [f.raw for f in asm.feed(REPLY + OTHER)] == [REPLY, OTHER]


def test_garbage_is_skipped_and_reported():
    seen: list[Rejection] = []
    asm = FrameAssembler(on_reject=seen.append)
    frames = asm.feed(b"\x01\x02\x03" + REPLY)
    assert [f.raw for f in frames] == [REPLY]
    assert seen == [Rejection("garbage", "3 bytes of garbage before a frame start", 3)]
    assert asm.rejections == seen


def test_a_trailing_lone_4e_is_kept_for_the_next_read():
    asm = FrameAssembler()
    assert asm.feed(b"\x00\x00\x4e") == []
    assert asm.pending == 1
    assert [f.raw for f in asm.feed(REPLY[1:])] == [REPLY]


def test_length_out_of_bounds_drops_one_byte_and_resyncs():
    asm = FrameAssembler()
    frames = asm.feed(b"NW\xff\xff" + REPLY)
    assert [f.raw for f in frames] == [REPLY]
    assert asm.rejections[0].reason == "length"


def test_bad_checksum_is_rejected_and_the_next_frame_still_found():
    bad = REPLY[:-1] + bytes((REPLY[-1] ^ 1,))
    asm = FrameAssembler()
    frames = asm.feed(bad + OTHER)
    assert [f.raw for f in frames] == [OTHER]
    assert asm.rejections[0].reason == "checksum"


def test_false_header_swallowing_the_real_frame_is_recovered_at_the_deadline():
    # "NW" + a plausible length of 400: the real frame sits inside the false candidate
    asm = FrameAssembler()
    assert asm.feed(b"NW\x01\x90" + REPLY) == []
    frames = asm.expire()
    assert [f.raw for f in frames] == [REPLY]
    assert asm.rejections[0].reason == "truncated"
    assert "got 295 of 402 bytes" in asm.rejections[0].detail


def test_wrong_length_field_within_bounds_is_a_trailer_rejection():
    short = REPLY[:2] + (len(REPLY) - 10).to_bytes(2, "big") + REPLY[4:]
    asm = FrameAssembler()
    assert asm.feed(short) == []
    assert asm.rejections[0].reason == "trailer"


def test_expire_without_a_candidate_does_nothing():
    asm = FrameAssembler()
    assert asm.expire() == []
    assert asm.rejections == []


def test_echoed_request_comes_out_as_a_request_frame():
    asm = FrameAssembler()
    frames = asm.feed(build_request() + REPLY)
    assert [f.is_request for f in frames] == [True, False]


def test_rejections_are_bounded():
    asm = FrameAssembler(keep=4)
    for _ in range(10):
        asm.feed(b"NW\xff\xff")
    assert len(asm.rejections) == 4


def test_reset_forgets_buffer_and_rejections():
    asm = FrameAssembler()
    asm.feed(b"\x00" + REPLY[:50])
    asm.reset()
    assert asm.pending == 0 and asm.rejections == []
