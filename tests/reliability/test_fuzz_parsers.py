"""Fuzz the byte-facing parts end to end: JK bytes -> frame -> status -> reading, and Pylontech frames.

Whatever arrives, the JK path yields readings or :class:`~gateway_core.errors.FrameError` (which the
engine turns into stop limits), never another exception; the Pylontech decoder yields values or
``FrameDecodeError`` in every layout; candump lines (huge numbers, non-UTF-8, pathological runs)
give a bounded frame or nothing; CLI ids and profile tables are valid or one line; no profile's
frame builder puts a current on the bus for stop limits or a measurement before the first reading.
``GATEWAY_LONG_FUZZ=1`` switches to the long hypothesis profile (see tests/conftest.py).
"""

from __future__ import annotations

import io
import json
import logging
import struct

from hypothesis import given
from hypothesis import strategies as st

from gateway_core.errors import FrameError
from gateway_core.model import BatteryReading, Fault, LimitFlag, Limits
from gateway_core.plausibility import implausibility
from jk_uart.cli import parse_hex, read_frame_input
from jk_uart.decode import CELLS, ID_TABLE, decode_frame
from jk_uart.encode import NEW_FIRMWARE_TAIL, ORDER, encode_records
from jk_uart.protocol import MAX_LENGTH, FrameAssembler, build_frame, checksum, parse_frame
from jk_uart.reading import to_json, to_reading
from jk_uart.simulator import SimulatedBms
from pylontech_can.candump import MAX_LINE_BYTES, read_lines
from pylontech_can.cli import parse_data, parse_id
from pylontech_can.config import PylontechConfig
from pylontech_can.dbc import BATTERY_FRAME_IDS, HEARTBEAT_ID, LIMITS_ID, REQUESTS_ID
from pylontech_can.decode import FrameDecodeError, decode_candump_frame, parse_candump_line
from pylontech_can.decode import decode_frame as decode_can
from pylontech_can.frames import FrameBuilder
from pylontech_can.profile import FRAME_TOKENS, ProfileError, parse_profile, shipped_names
from tests.fakes import make_reading

REPLIES = {
    cells: SimulatedBms(cells=cells, soc_pct=55.0, current_a=-12.5).encode_reply() for cells in (3, 16, 32)
}


def to_reading_or_frame_error(raw: bytes) -> object:
    """The JK receive path after framing: decode and convert; FrameError is the only refusal."""
    try:
        status = decode_frame(parse_frame(raw))
        return to_reading(status, "fuzz", 0.0)
    except FrameError as exc:
        assert str(exc) and "\n" not in str(exc)
        return exc


def refit(raw: bytearray) -> bytes:
    """Fix the length field and checksum of a mutated frame so it passes framing and tests decoding."""
    raw[2:4] = (len(raw) - 2).to_bytes(2, "big")
    body = bytes(raw[:-2])
    return body + checksum(body).to_bytes(2, "big")


@given(chunks=st.lists(st.binary(max_size=80), max_size=12))
def test_any_byte_stream_gives_only_checksummed_frames(chunks):
    assembler = FrameAssembler()
    for chunk in chunks:
        for frame in assembler.feed(chunk):
            assert parse_frame(frame.raw) == frame
            to_reading_or_frame_error(frame.raw)
    for frame in assembler.expire():
        to_reading_or_frame_error(frame.raw)


@given(
    cells=st.sampled_from(sorted(REPLIES)),
    before=st.binary(max_size=40),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6),
)
def test_a_reply_among_garbage_in_any_split_is_found_and_decoded(cells, before, cuts):
    stream = before.replace(b"N", b"O") + REPLIES[cells]
    assembler = FrameAssembler()
    frames = []
    start = 0
    for cut in sorted(set(cuts)):
        frames += assembler.feed(stream[start:cut])
        start = max(start, cut)
    frames += assembler.feed(stream[start:])
    assert [frame.raw for frame in frames] == [REPLIES[cells]]
    reading = to_reading_or_frame_error(frames[0].raw)
    assert isinstance(reading, BatteryReading) and reading.cell_count == cells


@given(
    cells=st.sampled_from(sorted(REPLIES)),
    edits=st.lists(
        st.tuples(st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 400), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
)
def test_a_mutated_reply_with_a_valid_checksum_decodes_or_is_refused(cells, edits):
    raw = bytearray(REPLIES[cells])
    for kind, position, value in edits:
        at = 11 + position % max(1, len(raw) - 20)  # inside the data section
        if kind == "flip":
            raw[at] ^= value or 1
        elif kind == "insert":
            raw.insert(at, value)
        elif len(raw) > 30:
            del raw[at]
    result = to_reading_or_frame_error(refit(raw))
    if isinstance(result, BatteryReading):
        why = implausibility(result)  # the engine's check copes with whatever was decoded
        assert why is None or (why and "\n" not in why)


@given(data=st.binary(max_size=500), command=st.integers(0, 255), transport=st.integers(0, 255))
def test_any_data_section_in_a_valid_frame_decodes_or_is_refused(data, command, transport):
    try:
        raw = build_frame(data, command=command, transport=transport)
    except (ValueError, FrameError):
        return  # too long for one frame: refused when building
    to_reading_or_frame_error(raw)


#: Every id of a full reply with the width of its value (0x79 excluded: it is built apart).
WIDTHS = {
    data_id: width for data_id, (width, _name) in ID_TABLE.items() if data_id in ORDER + NEW_FIRMWARE_TAIL
}
EXTREMES = st.sampled_from([0, 1, 99, 100, 101, 140, 141, 255, 0x7FFF, 0x8000, 0xFFFF, 0xFFFFFFFF])


@given(
    cells=st.integers(1, 40),
    values=st.dictionaries(st.sampled_from(sorted(WIDTHS)), EXTREMES | st.integers(0, 2**80), max_size=20),
    texts=st.dictionaries(
        st.sampled_from([0xB2, 0xB4, 0xB5, 0xB7, 0xBA]), st.binary(min_size=24, max_size=24)
    ),
)
def test_huge_values_and_non_ascii_text_in_a_valid_reply_decode_or_are_refused(cells, values, texts):
    """Extreme numbers (truncated to each id's width) and arbitrary bytes in the text ids."""
    records = encode_records(SimulatedBms(cells=16).status)
    for data_id, value in values.items():
        width = WIDTHS[data_id]
        records[data_id] = (value % 256**width).to_bytes(width, "big")
    for data_id, raw in texts.items():
        records[data_id] = raw[: WIDTHS[data_id]]
    n = min(cells, 85)  # the 0x79 length byte holds 3 x N <= 255
    records[CELLS] = bytes((3 * n,)) + b"".join(bytes((i,)) + b"\x0c\xe4" for i in range(1, n + 1))
    data = b"".join(bytes((i,)) + records[i] for i in ORDER + NEW_FIRMWARE_TAIL)
    try:
        raw = build_frame(data)
    except ValueError:
        return  # too long for one frame
    result = to_reading_or_frame_error(raw)
    if isinstance(result, BatteryReading):
        json.dumps(to_json(decode_frame(parse_frame(raw))))  # the CLI's JSON renders whatever was decoded
        why = implausibility(result)
        assert why is None or "\n" not in why


ALPHABET = st.sampled_from([b"N", b"W", b"NW", b"\x00", b"\x01", b"\x02", b"\x13", b"h", b"\xff"])


@given(pieces=st.lists(ALPHABET, max_size=3000), split=st.integers(1, 600))
def test_a_stream_dense_with_false_frame_starts_stays_bounded(pieces, split):
    """Pathological input: runs of 4E 57 with plausible lengths; the parser never keeps more than a frame."""
    stream = b"".join(pieces)
    assembler = FrameAssembler()
    for at in range(0, len(stream), split):
        for frame in assembler.feed(stream[at : at + split]):
            to_reading_or_frame_error(frame.raw)
        assert assembler.pending <= MAX_LENGTH + 2 + split
        assert len(assembler.rejections) <= 32
    assembler.expire()


def test_a_megabyte_of_frame_starts_is_refused_without_a_frame():
    assembler = FrameAssembler()
    assert assembler.feed(b"NW\x01\x00" * 250_000) == []
    assert assembler.pending <= MAX_LENGTH + 2


@given(data=st.binary(max_size=2000) | st.builds(lambda b: b"NW" + b, st.binary(max_size=600)))
def test_decode_stdin_gives_bytes_or_one_line_refusal(data):
    """``jk_uart decode -``: any bytes on stdin (non-UTF-8 included) parse or are refused in one line."""
    try:
        raw = read_frame_input(data)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(raw, bytes)


@given(text=st.text(max_size=400) | st.just("4E" * 100_000) | st.just("0x" * 5000 + "g"))
def test_hex_text_of_any_kind_parses_or_is_refused_in_one_line(text):
    try:
        parse_hex(text)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)


@given(
    arbitration_id=st.one_of(st.sampled_from([*BATTERY_FRAME_IDS, HEARTBEAT_ID]), st.integers(0, 0x7FF)),
    data=st.binary(max_size=12),
)
def test_pylontech_decoder_gives_values_or_a_decode_error(arbitration_id, data):
    try:
        values = decode_can(arbitration_id, data)
    except FrameDecodeError as exc:
        assert str(exc)
        return
    assert values and all(isinstance(key, str) for key in values)


amps = st.floats(min_value=0.0, max_value=10_000.0, allow_nan=False)
volts = st.none() | st.floats(min_value=0.0, max_value=10_000.0, allow_nan=False)


@given(
    charge=amps,
    discharge=amps,
    cvl=volts,
    dvl=volts,
    cell_v=st.floats(min_value=1.0, max_value=4.5),
    current=st.floats(min_value=-5000.0, max_value=5000.0),
    soc=st.floats(min_value=0.0, max_value=100.0),
    fault=st.sampled_from(list(Fault)),
    cells=st.integers(3, 32),
)
def test_frame_builder_never_sends_current_with_stop_limits(
    charge, discharge, cvl, dvl, cell_v, current, soc, fault, cells
):
    builder = FrameBuilder(PylontechConfig(), logging.getLogger("test.fuzz"))
    reading = make_reading(cells=cells, cell_v=cell_v, current_a=current, soc_pct=soc)
    flags = (LimitFlag.CHARGE if charge > 0 else LimitFlag.NONE) | (
        LimitFlag.DISCHARGE if discharge > 0 else LimitFlag.NONE
    )
    allowed = Limits(charge, discharge, cvl, dvl, flags, ("fuzz",))
    for frame in builder.build(reading, allowed):  # any value is clamped, never raises
        decode_can(frame.arbitration_id, frame.data)
    for backing in (reading, None):
        frames = {f.arbitration_id: f.data for f in builder.build(backing, Limits.stop("fuzz", fault))}
        _cvl, ccl, dcl = struct.unpack_from("<Hhh", frames[LIMITS_ID])
        assert (ccl, dcl) == (0, 0)
        assert frames[REQUESTS_ID][0] & 0xC0 == 0  # neither charge nor discharge enabled
    frames = {f.arbitration_id: f.data for f in builder.build(None, allowed)}
    _cvl, ccl, dcl = struct.unpack_from("<Hhh", frames[LIMITS_ID])
    assert (ccl, dcl) == (0, 0)  # limits with no reading behind them are never sent


# -- Pylontech: candump logs, CLI arguments, profiles, every profile's frame set ---------------


hexish = st.text(alphabet="0123456789abcdefABCDEF#_ .()[]'\t-xX３５１\u00a0", max_size=60)
pathological = st.one_of(
    st.builds(lambda n: "  can0  351   [8]  " + "00 " * n, st.integers(0, 3000)),
    st.builds(lambda n: "(" + "1" * n + ") can0 351#00", st.integers(0, 3000)),
    st.builds(
        lambda n, s: "can0 351 [8] " + s * n, st.integers(0, 2000), st.sampled_from([" ", "\t", "0 ", "'"])
    ),
    st.builds(lambda n: "9" * n + "#" + "0" * n, st.integers(0, 2000)),
)


@given(line=st.one_of(st.text(max_size=200), hexish, pathological))
def test_candump_lines_give_a_bounded_frame_or_nothing(line):
    frame = parse_candump_line(line)
    if frame is None:
        return
    assert len(line) <= MAX_LINE_BYTES and len(frame.data) <= 8
    assert frame.arbitration_id <= (0x1FFFFFFF if frame.is_extended_id else 0x7FF)
    record = decode_candump_frame(frame)
    assert (record["signals"] is None) == ("error" in record)
    assert "\n" not in record.get("error", "")


@given(raw=st.binary(max_size=4000), cap=st.sampled_from([1, 7, 64]))
def test_any_bytes_stream_as_bounded_lines(raw, cap):
    chunks = raw.replace(b"\n", b"\n" * cap)[:8000]
    for line in read_lines(io.BytesIO(chunks)):
        assert (line.text is None) == (line.problem is not None)
        if line.text is not None:
            assert len(line.text.encode()) <= MAX_LINE_BYTES and "\n" not in line.text


@given(text=st.one_of(st.text(max_size=40), hexish, st.integers().map(str), st.integers().map(hex)))
def test_cli_ids_and_data_are_in_range_or_one_precise_line(text):
    try:
        arbitration_id = parse_id(text)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert 0 <= arbitration_id <= 0x7FF
        assert set(text.strip().lower().removeprefix("0x")) <= set("0123456789abcdef")
    try:
        data = parse_data(text)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert len(data) <= 8


@given(
    arbitration_id=st.sampled_from(sorted({fid for fid, _ in FRAME_TOKENS.values()})),
    variant=st.sampled_from([None, "8", "luxpower"]),
    data=st.binary(max_size=12),
)
def test_every_layout_decodes_or_refuses(arbitration_id, variant, data):
    try:
        values = decode_can(arbitration_id, data, variant)
    except FrameDecodeError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert values and all(isinstance(key, str) for key in values)


profile_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=12),
    st.lists(st.one_of(st.sampled_from(list(FRAME_TOKENS)), st.text(max_size=8), st.integers()), max_size=10),
)  # fmt: skip


@given(table=st.dictionaries(st.sampled_from([
    "description", "frames", "before_first_reading", "manufacturer", "peer_ids", "peer_extended_ids",
    "peer_silent_after_s", "cvl_step_down_v_per_min", "extra",
]), profile_values, max_size=9))  # fmt: skip
def test_a_profile_table_is_valid_or_one_line(table):
    try:
        profile = parse_profile("fuzz", table)
    except ProfileError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert {fid for fid, _ in (FRAME_TOKENS[t] for t in profile.frames)} >= {
        0x351,
        0x355,
        0x356,
        0x359,
        0x35C,
        0x35E,
    }


@given(
    name=st.sampled_from(shipped_names()),
    charge=amps,
    discharge=amps,
    cvl=volts,
    current=st.floats(min_value=-5000.0, max_value=5000.0),
    fault=st.sampled_from(list(Fault)),
    capacity=st.none() | st.floats(min_value=0.0, max_value=100_000.0),
    cycles=st.none() | st.integers(0, 10**9),
    now=st.floats(min_value=0.0, max_value=1e9),
)
def test_no_profile_sends_current_with_stop_limits_or_measurements_before_a_reading(
    name, charge, discharge, cvl, current, fault, capacity, cycles, now
):
    builder = FrameBuilder(PylontechConfig(profile=name), logging.getLogger("test.fuzz"))
    flags = (LimitFlag.CHARGE if charge > 0 else LimitFlag.NONE) | (
        LimitFlag.DISCHARGE if discharge > 0 else LimitFlag.NONE
    )
    allowed = Limits(charge, discharge, cvl, None, flags, ("fuzz",))
    before = builder.build(None, allowed, now_s=now)
    assert not {f.arbitration_id for f in before} & {0x355, 0x356}
    reading = make_reading(current_a=current, capacity_ah=capacity, cycle_count=cycles)
    for frame in builder.build(reading, allowed, now_s=now):  # any value is clamped, never raises
        decode_can(frame.arbitration_id, frame.data, builder.profile.variants[frame.arbitration_id])
    frames = {
        f.arbitration_id: f.data for f in builder.build(None, Limits.stop("fuzz", fault), now_s=now + 1)
    }
    _cvl, ccl, dcl = struct.unpack_from("<Hhh", frames[LIMITS_ID])
    assert (ccl, dcl) == (0, 0)
    assert frames[REQUESTS_ID][0] & 0xC0 == 0
