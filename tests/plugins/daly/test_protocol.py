"""Framing: requests, the sum8, and the resumable parser on captured broken streams, each with its reason."""

from __future__ import annotations

import pytest

from daly.decode import assemble
from daly.protocol import (
    DalyFrameError,
    FrameAssembler,
    build_request,
    checksum,
    parse_frame,
    request_address,
    split_frames,
)
from gateway_core.errors import ImplausibleReply

from .helpers import FRAMES


def test_requests_match_the_captured_ones():
    assert build_request(0x90) == FRAMES["request_0x90_pc"]
    assert build_request(0x95) == bytes.fromhex("a5 40 95 08 00 00 00 00 00 00 00 00 82")


def test_board_numbers_map_to_request_addresses_as_the_rs485_peers_use():
    """mr-manuel/venus-os_dbus-serialbattery: board 1 = 0x40, board 2 = 0x41; replies carry the board."""
    assert [request_address(b) for b in (1, 2, 16)] == [0x40, 0x41, 0x4F]
    assert build_request(0x90, board=2)[:3] == bytes((0xA5, 0x41, 0x90))
    with pytest.raises(ValueError):
        request_address(17)


def test_a_checksum_of_zero_is_legitimate():
    frame = FRAMES["tomatensaus_poll1"][26:39]  # the 0x93 reply whose sum is 0x00
    assert frame[-1] == 0 and checksum(frame[:12]) == 0
    assert parse_frame(frame).data_id == 0x93


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("powermon_0x90_bad_checksum", "checksum"),
        ("powermon_0x90_wrong_start", "garbage"),
        ("powermon_0x90_short", "truncated"),
    ],
)
def test_captured_broken_single_frames_are_refused_with_their_reason(name, reason):
    with pytest.raises(DalyFrameError) as err:
        parse_frame(FRAMES[name])
    assert err.value.reason == reason


def test_a_length_byte_other_than_08_is_refused():
    frame = bytearray(FRAMES["powermon_0x90_soc77.8"])
    frame[3] = 0x09
    frame[12] = checksum(frame[:12])
    with pytest.raises(DalyFrameError, match="length byte 0x09") as err:
        parse_frame(bytes(frame))
    assert err.value.reason == "length"


def test_split_frames_names_the_frame_that_failed():
    with pytest.raises(DalyFrameError, match=r"frame 11 \(bytes 130\.\.134\)") as err:
        split_frames(FRAMES["mppsolar_0x95_8s_cut"])
    assert err.value.reason == "truncated"


def test_the_parser_reads_a_capture_that_starts_mid_frame():
    asm = FrameAssembler()
    frames = asm.feed(FRAMES["powermon_stream_mid_frame"])
    assert [r.reason for r in asm.rejections] == ["garbage"] and asm.rejections[0].dropped == 7
    assert [(f.data_id, f.data[0]) for f in frames[:9]] == [(0x95, n) for n in (4, 5, 6, 1, 2, 3, 4, 5, 6)]
    assert [f.data_id for f in frames[9:]] == [0x93, 0x96, 0x94]
    # the tail of an earlier reply makes the frame numbers run 4 5 6 1 ...: refused as a whole
    with pytest.raises(ImplausibleReply, match="out of sequence: 4 5 6 1"):
        assemble(frames)
    # without that tail (the source flushes before each request) the rest is one 16-cell poll
    poll = assemble(frames[3:])
    assert poll.cell_voltages_v is not None and len(poll.cell_voltages_v) == 16
    assert poll.cell_voltages_v[:3] == (3.285, 3.284, 3.283) and poll.temperatures_c == (15.0,)
    assert poll.mosfets is not None and poll.mosfets.remaining_capacity_ah == 108.08


def test_the_parser_drops_a_cut_frame_and_a_garbage_frame_and_keeps_the_rest():
    asm = FrameAssembler()
    frames = asm.feed(FRAMES["powermon_0x95_broken_stream"])
    assert [f.data[0] for f in frames] == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 15, 16]
    reasons = {r.reason for r in asm.rejections}
    assert reasons == {"checksum", "garbage"}
    assert any("checksum mismatch on 0x95" in r.detail for r in asm.rejections)
    with pytest.raises(ImplausibleReply, match="out of sequence"):
        assemble(frames)


def test_an_a5_without_a_known_address_is_dropped_for_that_reason():
    asm = FrameAssembler()
    frames = asm.feed(FRAMES["powermon_ble_stream_unknown_address"])
    assert "address" in {r.reason for r in asm.rejections}
    assert [f.data[0] for f in frames] == [*range(1, 12), 14, 15, 16]


def test_a_frame_cut_by_the_next_frame_start_is_dropped():
    asm = FrameAssembler()
    frames = asm.feed(FRAMES["powermon_ble_stream_cut_frame"])
    assert [f.data[0] for f in frames] == [*range(2, 12), 16]
    assert asm.rejections[0].reason == "checksum"


def test_a_garbage_frame_number_with_a_valid_sum_is_refused_by_the_decoder():
    frames = split_frames(FRAMES["derived_0x95_frame_number_a8"])
    assert frames[-1].data[0] == 0xA8
    with pytest.raises(ImplausibleReply, match="out of sequence: 1 2 3 4 5 6 168"):
        assemble(frames)


def test_an_incomplete_frame_is_reported_truncated_at_the_deadline():
    asm = FrameAssembler()
    assert asm.feed(FRAMES["mppsolar_0x95_8s_cut"]) and asm.pending == 5
    assert asm.expire() == []
    assert [r.reason for r in asm.rejections] == ["truncated", "garbage"]  # then its own tail
    assert "got 5 of 13" in asm.rejections[0].detail and asm.pending == 0


@pytest.mark.parametrize("name", ["request_0x90_pc", "request_0x90_bluetooth"])
def test_echoed_requests_are_frames_marked_as_requests(name):
    asm = FrameAssembler()
    (echo, reply) = asm.feed(FRAMES[name] + FRAMES["powermon_0x90_soc77.8"])
    assert echo.is_request and not reply.is_request and asm.rejections == []


def test_decoding_only_requests_is_refused():
    with pytest.raises(DalyFrameError, match="only requests") as err:
        assemble(split_frames(FRAMES["request_0x90_pc"]))
    assert err.value.reason == "request"


def test_a_captured_line_with_our_echo_decodes_the_replies():
    poll = assemble(split_frames(FRAMES["request_0x90_pc"] + FRAMES["mppsolar_0x90_soc88.8"]))
    assert poll.pack is not None and poll.pack.soc_pct == 88.8


def test_replies_of_another_board_are_frames_of_that_board():
    reply = bytearray(FRAMES["powermon_0x90_soc77.8"])
    reply[1] = 0x02
    reply[12] = checksum(reply[:12])
    assert parse_frame(bytes(reply)).board == 2
