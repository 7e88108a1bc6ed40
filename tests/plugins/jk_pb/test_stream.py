"""The resumable stream parser: any split, garbage, echoes, padding, ACKs; each drop has a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jk_pb.modbus import build_ack, build_request, crc16
from jk_pb.records import CELL_INFO, DEVICE_INFO, HEADER, SETTINGS, Record
from jk_pb.stream import REASONS, Ack, Request, StreamParser

from .helpers import record

RECORDS = [
    record(name)
    for name in (
        "cell_32s_rs485_pb_addr3", "settings_rs485_pb_addr3", "device_rs485_pb_addr3",
        "cell_24s_16cells_charging", "cell_32s_16cells_charging",
    )
]  # fmt: skip
ADDRESSES = st.integers(min_value=0, max_value=15)
FRAME_TYPES = st.sampled_from([CELL_INFO, SETTINGS, DEVICE_INFO])
#: Junk that can start no record, ACK or request: no 0x55 (header), no 0x10 (function), no 00 (padding).
JUNK = st.binary(min_size=1, max_size=40).map(
    lambda b: bytes(x if x not in (0x55, 0x10, 0) else 0x77 for x in b)
)


@st.composite
def line_traffic(draw):
    """A sequence of polls as an echoing adapter delivers them, and what each piece should parse to."""
    items, wire = [], b""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        address, frame_type = draw(ADDRESSES), draw(FRAME_TYPES)
        raw = draw(st.sampled_from(RECORDS))
        if draw(st.booleans()):
            request = build_request(address, frame_type)
            wire += request
            items.append(("request", request))
        if draw(st.booleans()):
            junk = draw(JUNK)
            wire += junk
        wire += raw
        items.append(("record", raw))
        wire += b"\x00" * draw(st.integers(min_value=0, max_value=3))
        ack = build_ack(address, 0x1620)
        wire += ack
        items.append(("ack", ack))
        wire += b"\x00" * draw(st.integers(min_value=0, max_value=2))
    return items, wire


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


def kinds(pieces) -> list[tuple[str, bytes]]:
    names = {Record: "record", Ack: "ack", Request: "request"}
    return [(names[type(p)], p.raw) for p in pieces]


@given(line_traffic(), st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_every_piece_is_found_whatever_the_split(traffic, cuts):
    items, wire = traffic
    parser = StreamParser()
    out = []
    for chunk in split(wire, cuts):
        out += parser.feed(chunk)
    out += parser.expire()
    assert kinds(out) == items
    assert parser.pending == 0
    assert {r.reason for r in parser.rejections} <= {"padding", "garbage"}
    assert all(r.reason in REASONS and r.detail for r in parser.rejections)


@given(line_traffic())
def test_byte_by_byte_equals_all_at_once(traffic):
    _, wire = traffic
    whole, drip = StreamParser(), StreamParser()
    at_once = whole.feed(wire) + whole.expire()
    one_by_one = [piece for byte in wire for piece in drip.feed(bytes((byte,)))] + drip.expire()
    assert kinds(at_once) == kinds(one_by_one)


@given(st.binary(max_size=700))
def test_random_bytes_never_raise_and_account_for_every_byte(data):
    parser = StreamParser()
    pieces = parser.feed(data) + parser.expire()
    parsed = sum(len(p.raw) for p in pieces)
    dropped = sum(r.dropped for r in parser.rejections)
    assert parsed + dropped == len(data)
    assert parser.pending == 0


@given(
    st.sampled_from(RECORDS), st.integers(min_value=0, max_value=299), st.integers(min_value=1, max_value=255)
)
def test_a_corrupted_byte_is_refused_with_its_reason(raw, index, flip):
    bad = bytearray(raw)
    bad[index] ^= flip
    parser = StreamParser()
    pieces = parser.feed(bytes(bad)) + parser.expire()
    assert not [p for p in pieces if isinstance(p, Record) and p.raw == raw]
    reasons = {r.reason for r in parser.rejections}
    if index < 4:
        assert "garbage" in reasons or "truncated" in reasons  # no header: no candidate at all
    elif index == 4 and bad[4] not in (1, 2, 3):
        assert "frame_type" in reasons
    else:
        assert reasons & {"checksum", "frame_type"}


def test_a_false_header_in_junk_costs_one_byte_and_the_real_record_is_found():
    raw = record("cell_32s_rs485_pb_addr3")
    parser = StreamParser()
    pieces = parser.feed(HEADER + bytes((0x02, 0x00)) + b"\x77" * 20 + raw) + parser.expire()
    assert [p.raw for p in pieces] == [raw]
    assert parser.rejections[0].reason == "checksum"


def test_a_truncated_record_is_reported_at_the_deadline():
    parser = StreamParser()
    assert parser.feed(record("cell_32s_rs485_pb_addr3")[:200]) == []
    assert parser.pending == 200
    assert parser.expire() == []
    assert [r.reason for r in parser.rejections] == ["truncated", "garbage"]
    assert "200 of 300 bytes" in parser.rejections[0].detail
    assert parser.pending == 0


def test_an_ack_with_a_bad_crc_is_dropped_as_crc():
    ack = bytearray(build_ack(3, 0x1620))
    ack[-1] ^= 0xFF
    parser = StreamParser()
    assert parser.feed(bytes(ack)) + parser.expire() == []
    assert parser.rejections[0].reason == "crc"
    assert "address 3" in parser.rejections[0].detail


def test_padding_before_an_ack_of_address_0_is_not_eaten():
    parser = StreamParser()
    pieces = parser.feed(b"\x00\x00" + build_ack(0, 0x1620)) + parser.expire()
    assert kinds(pieces) == [("ack", build_ack(0, 0x1620))]
    assert [r.reason for r in parser.rejections] == ["padding"]


def test_reset_forgets_bytes_and_rejections():
    parser = StreamParser()
    parser.feed(b"\x77\x77" + record("cell_32s_rs485_pb_addr3")[:10])
    parser.reset()
    assert parser.pending == 0 and parser.rejections == []
    assert kinds(parser.feed(record("settings_rs485_pb_addr3"))) == [
        ("record", record("settings_rs485_pb_addr3"))
    ]


@pytest.mark.parametrize(
    ("address", "register", "wire"),
    [
        (3, 0x1620, "03 10 16 20 00 01 02 00 00 CF 91"),  # dbus-serialbattery's captured request
        (1, 0x1620, "01 10 16 20 00 01 02 00 00 D6 F1"),  # the txubelaxu sniffer capture
        (1, 0x161E, "01 10 16 1E 00 01 02 00 00 D2 2F"),
    ],
)
def test_requests_match_captured_ones(address, register, wire):
    frame_type = {0x1620: CELL_INFO, 0x161E: SETTINGS}[register]
    assert build_request(address, frame_type) == bytes.fromhex(wire)
    assert crc16(bytes.fromhex(wire)[:-2]) == int.from_bytes(bytes.fromhex(wire)[-2:], "little")


@pytest.mark.parametrize(
    ("address", "register", "wire"),
    [
        (3, 0x1620, "03 10 16 20 00 01 05 A9"),
        (3, 0x161E, "03 10 16 1E 00 01 64 65"),
        (0, 0x1620, "00 10 16 20 00 01 05 9A"),
    ],
)
def test_acks_match_captured_ones(address, register, wire):
    assert build_ack(address, register) == bytes.fromhex(wire)
