"""Hypothesis over the parser: any split of valid replies reads back, garbage never breaks it."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from gateway_core.errors import ImplausibleReply
from jbd.assembler import FrameAssembler
from jbd.decode import decode_basic, decode_cells
from jbd.protocol import START, JbdFrameError, build_reply, parse_frame

from .helpers import with_checksum

replies = st.builds(
    build_reply,
    st.integers(0, 0xFF).filter(lambda r: r not in (0xA5, 0x5A)),
    st.binary(max_size=80),
    st.sampled_from([0x00, 0x80]),
)
noise = st.binary(max_size=30).map(lambda b: bytes(x for x in b if x != START))


def embeds_a_frame(raw: bytes) -> bool:
    """True when a valid frame sits inside ``raw`` after its first byte (checked independently)."""
    for i in range(1, len(raw) - 6):
        if raw[i] != START:
            continue
        end = i + raw[i + 3] + 7
        if end <= len(raw) and raw[end - 1] == 0x77 and with_checksum(raw[i:end]) == raw[i:end]:
            return True
    return False


@given(st.lists(replies, min_size=1, max_size=5), st.lists(st.integers(1, 40), max_size=30))
def test_any_split_of_valid_replies_reads_back_in_order(frames, cuts):
    assume(not any(embeds_a_frame(f) for f in frames))
    stream = b"".join(frames)
    assembler = FrameAssembler()
    got, at = [], 0
    for size in [*cuts, len(stream)]:
        got += assembler.feed(stream[at : at + size])
        at += size
    assert [f.raw for f in got] == frames
    assert assembler.rejections == [] and assembler.pending == 0


@given(st.lists(st.tuples(noise, replies), min_size=1, max_size=4))
def test_garbage_between_replies_is_dropped_as_garbage(pieces):
    assume(not any(embeds_a_frame(f) for _, f in pieces))
    assembler = FrameAssembler()
    got = assembler.feed(b"".join(junk + frame for junk, frame in pieces))
    assert [f.raw for f in got] == [frame for _, frame in pieces]
    assert {r.reason for r in assembler.rejections} <= {"garbage"}
    assert sum(r.dropped for r in assembler.rejections) == sum(len(junk) for junk, _ in pieces)


@given(st.binary(max_size=600), st.integers(1, 64))
def test_arbitrary_bytes_never_raise_and_only_valid_frames_come_out(data, chunk):
    assembler = FrameAssembler()
    out = []
    for i in range(0, len(data), chunk):
        out += assembler.feed(data[i : i + chunk])
    for _ in range(300):  # deadlines pass until nothing is pending
        if not assembler.pending:
            break
        out += assembler.expire()
        if assembler.pending and assembler.waiting_for() is None:
            break
    for frame in out:
        assert parse_frame(frame.raw) == frame
    assert assembler.pending < 263


@given(replies, st.data())
def test_corrupting_any_covered_byte_is_refused(frame, data):
    assume(not embeds_a_frame(frame))
    index = data.draw(st.sampled_from([i for i in range(len(frame)) if i != 1]), label="index")
    flip = data.draw(st.integers(1, 255), label="flip")
    corrupt = bytearray(frame)
    corrupt[index] ^= flip
    try:
        parse_frame(bytes(corrupt))
    except JbdFrameError as exc:
        assert exc.reason in {"header", "end", "checksum", "length", "truncated"}
    else:
        raise AssertionError(f"byte {index} ^ 0x{flip:02X} still parses")


@given(replies, st.integers(0, 0xFF))
def test_a_changed_register_byte_is_refused_by_the_echo_check(frame, register):
    assume(register != frame[1])
    changed = frame[:1] + bytes((register,)) + frame[2:]
    assembler = FrameAssembler()
    assembler.reset(expect=frame[1])
    assert assembler.feed(changed) == []
    assert assembler.rejections[-1].reason in {"register", "echo"}


@given(st.binary(max_size=120))
def test_decoders_refuse_impossible_content_with_implausible_reply(data):
    for decoder in (decode_basic, decode_cells):
        try:
            decoder(data)
        except ImplausibleReply as exc:
            assert str(exc) and "\n" not in str(exc)
