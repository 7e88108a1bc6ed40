"""Framing: requests, checksum, one-frame refusals with reasons, and the resumable assembler."""

from __future__ import annotations

import re

import pytest

from jbd.assembler import FrameAssembler
from jbd.protocol import (
    REG_BASIC,
    REG_CELLS,
    REG_NAME,
    JbdFrameError,
    build_reply,
    build_request,
    checksum,
    parse_frame,
)
from jbd.upseries import build_up_frame, crc16_modbus, find_up_frame

from .helpers import FRAMES, with_checksum

BASIC = FRAMES["basic_4s_3ntc_sp04s034"]
CELLS = FRAMES["cells_4s_sp04s034"]


def test_requests_are_the_documented_bytes():
    assert build_request(REG_BASIC).hex(" ").upper() == "DD A5 03 00 FF FD 77"
    assert build_request(REG_CELLS).hex(" ").upper() == "DD A5 04 00 FF FC 77"
    assert build_request(REG_NAME).hex(" ").upper() == "DD A5 05 00 FF FB 77"


def test_checksum_is_0x10000_minus_the_sum_of_status_length_and_data():
    n = BASIC[3]
    assert checksum(BASIC[2 : 4 + n]) == int.from_bytes(BASIC[4 + n : 6 + n], "big") == 0xFA8D
    assert build_reply(REG_BASIC, BASIC[4 : 4 + n]) == BASIC
    assert with_checksum(BASIC) == BASIC


def test_a_valid_frame_parses():
    frame = parse_frame(BASIC)
    assert (frame.register, frame.status, frame.ok, len(frame.data)) == (REG_BASIC, 0, True, 29)
    echo = parse_frame(build_request(REG_BASIC))
    assert echo.request and echo.register == REG_BASIC and not echo.ok


REFUSALS = {
    "header": (b"\xdc" + BASIC[1:], "does not start with DD"),
    "end": (BASIC[:-1] + b"\x78", "no 0x77 where the length byte"),
    "checksum": (BASIC[:-3] + bytes((BASIC[-3], BASIC[-2] ^ 1, 0x77)), "checksum mismatch: computed 0xFA8D"),
    "length": (BASIC[:3] + b"\x1b" + BASIC[4:], "the length byte says 27 data bytes (34-byte frame)"),
    "truncated": (BASIC[:20], "got 20 of the 36 bytes"),
}


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_one_frame_is_refused_with_its_reason(reason):
    raw, words = REFUSALS[reason]
    with pytest.raises(JbdFrameError, match=re.escape(words)) as caught:
        parse_frame(raw)
    assert caught.value.reason == reason
    assert "\n" not in str(caught.value)


def test_bytes_after_the_end_are_a_length_error():
    with pytest.raises(JbdFrameError, match="2 bytes follow the end") as caught:
        parse_frame(BASIC + b"\x00\x01")
    assert caught.value.reason == "length"


def test_assembler_reads_fragments_with_stale_leading_bytes():
    # issue syssi/esphome-jbd-bms#14 shows a stray FF next to the replies; BLE splits replies in 20s
    assembler = FrameAssembler()
    stream = b"\x00\x00\xff" + BASIC
    frames = [f for i in range(0, len(stream), 5) for f in assembler.feed(stream[i : i + 5])]
    assert [f.raw for f in frames] == [BASIC]
    assert [(r.reason, r.dropped) for r in assembler.rejections] == [("garbage", 3)]


def test_assembler_reassembles_the_ble_notifications_of_the_0x26_reply():
    raw = FRAMES["basic_4s_3ntc_ext26_ble"]
    assembler = FrameAssembler()
    assert assembler.feed(raw[:20]) == [] and assembler.waiting_for() == 45
    assert assembler.feed(raw[20:40]) == []
    assert [f.raw for f in assembler.feed(raw[40:])] == [raw]


def test_a_cut_reply_does_not_hold_up_the_next_one():
    assembler = FrameAssembler()
    assert assembler.feed(BASIC[:12]) == []  # a reply cut short (adapter glitch)
    frames = assembler.feed(CELLS)
    assert [f.raw for f in frames] == [CELLS]
    assert assembler.rejections[0].reason == "truncated" and "cut short" in assembler.rejections[0].detail


def test_a_corrupt_frame_is_dropped_and_the_next_one_read():
    assembler = FrameAssembler()
    bad = BASIC[:-3] + bytes((BASIC[-3] ^ 0xFF, BASIC[-2], 0x77))
    frames = assembler.feed(bad + CELLS)
    assert [f.raw for f in frames] == [CELLS]
    reasons = [r.reason for r in assembler.rejections]
    assert reasons[0] == "checksum" and set(reasons[1:]) <= {"garbage", "end", "checksum"}


def test_expecting_a_register_refuses_others_and_echoes():
    assembler = FrameAssembler()
    assembler.reset(expect=REG_CELLS)
    frames = assembler.feed(build_request(REG_CELLS) + BASIC + CELLS)
    assert [f.raw for f in frames] == [CELLS]
    assert [r.reason for r in assembler.rejections] == ["echo", "register"]
    assert (
        "a reply to register 0x03 (basic info), not to the 0x04 (cell voltages)"
        in assembler.rejections[1].detail
    )


def test_the_a5_transcription_is_refused_only_by_the_register_check():
    raw = FRAMES["transcription_a5_header_12s"]
    frame = parse_frame(raw)  # framing and checksum hold
    assert frame.register == 0xA5 and not frame.request
    assembler = FrameAssembler()
    assembler.reset(expect=REG_BASIC)
    assert assembler.feed(raw) == []
    assert assembler.rejections[0].reason == "register"


def test_expire_drops_an_incomplete_candidate():
    assembler = FrameAssembler()
    assembler.feed(BASIC[:10])
    assert assembler.expire() == []
    assert assembler.rejections[0].reason == "truncated"
    assert "got 10 of 36 bytes" in assembler.rejections[0].detail


def test_up16s_traffic_is_named_once():
    up = FRAMES["up16s_pack_status"]
    assert crc16_modbus(up[:-2]) == int.from_bytes(up[-2:], "little")
    assembler = FrameAssembler()
    assembler.reset(expect=REG_BASIC)
    assert assembler.feed(up[:50]) == [] and assembler.expire() == []
    assert not any(r.reason == "unsupported" for r in assembler.rejections)
    assembler.feed(up[50:])
    assembler.expire()
    assembler.expire()
    notes = [r for r in assembler.rejections if r.reason == "unsupported"]
    assert len(notes) == 1 and "UP16S" in notes[0].detail and "address 1, function 0x78" in notes[0].detail


def test_the_up_frame_builder_matches_the_capture():
    up = FRAMES["up16s_pack_status"]
    assert build_up_frame(1, 0x78, 0x1000, 0x10A0, up[8:-2]) == up
    found = find_up_frame(b"\x00\x11" + up)
    assert found is not None and (found.offset, found.data_length) == (2, 158)
    assert find_up_frame(BASIC + CELLS) is None
