"""One poll on the line: write a trigger, then read until the addressed pack's record and ACK are in.

The only module that reads and writes a port (the caller holds the line's turn). Time is the
injected clock's. What arrives is run through :class:`~jk_pb.stream.StreamParser`; the poll skips our
own request echoed by the adapter, ``00`` padding, and records that cannot answer this request:

* a record complete sooner than the wire time of our request plus a record (x 0.9) was already in
  flight before we wrote: a late reply to an earlier poll;
* a record followed by the ACK of another address is that pack's (a late reply, or two packs with
  one DIP address).

The record carries no address, the ACK does, so the ACK decides; a record whose ACK does not follow
at once is taken without it (noted), as some firmwares drop the ACK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway_core.clock import Clock
from gateway_core.errors import FrameError, SourceError, SourceTimeout
from gateway_core.ptysim import wire_time_s

from .modbus import REGISTERS, build_request
from .records import KINDS, RECORD_SIZE, Record
from .stream import Ack, Request, StreamParser

#: The port's read timeout, set once at open: a read returns at its first byte or after this slice.
READ_SLICE_S = 0.02
#: A record complete sooner than this share of its wire time after our write was already in flight.
LATE_SHARE = 0.9


class NoReply(SourceTimeout):
    """Nothing at all came back from the addressed pack (only silence, or our own echo)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The record that answered a poll, the ACK that confirmed it (or ``None``), and what was skipped."""

    record: Record
    ack: Ack | None
    notes: tuple[str, ...]


def poll(
    port: Any,
    *,
    address: int,
    frame_type: int,
    clock: Clock,
    timeout_s: float,
    baud: int,
    parser: StreamParser,
    where: str,
) -> Reply:
    """Ask the pack at ``address`` for a ``frame_type`` record and return its reply.

    :raises NoReply: silence. :raises SourceTimeout: no complete reply in ``timeout_s``.
    :raises FrameError: only corrupt or foreign replies came. Port errors propagate unchanged.
    """
    request = build_request(address, frame_type)
    register = REGISTERS[frame_type]
    parser.reset()
    port.reset_input_buffer()
    sent_at = clock.now()  # before the write: a slow write must not make the real reply look early
    port.write(request)
    earliest = sent_at + LATE_SHARE * wire_time_s(len(request) + RECORD_SIZE, baud)
    deadline = sent_at + timeout_s
    notes: list[str] = []
    record: Record | None = None
    received = echoes = 0
    idle_s = 0.0  # silent slices also bound the wait, whatever the injected clock does
    while clock.now() < deadline and idle_s < timeout_s:
        data = port.read(port.in_waiting or 1)
        if not data:
            idle_s += port.timeout or READ_SLICE_S
            if record is not None:
                return Reply(record, None, (*notes, "no ACK followed the record"))
            continue
        received += len(data)
        now = clock.now()
        for piece in parser.feed(data):
            if isinstance(piece, Request):
                if piece.raw == request:
                    echoes += 1
                else:
                    notes.append(f"another master on the line asked address {piece.address}")
            elif isinstance(piece, Record):
                if now < earliest:
                    notes.append(f"a {piece.kind} record arrived before its wire time: a late reply, dropped")
                elif piece.frame_type != frame_type:
                    notes.append(f"a {piece.kind} record, not {KINDS[frame_type]}: dropped")
                else:
                    record = piece
            elif record is None:
                notes.append(f"an ACK from address {piece.address} with no record before it")
            elif piece.address != address or piece.register != register:
                notes.append(
                    f"the record was answered by address {piece.address} (register 0x{piece.register:04X}), "
                    f"not {address}: dropped"
                )
                record = None
            else:
                return Reply(record, piece, tuple(notes))
    if record is not None:
        return Reply(record, None, (*notes, "no ACK followed the record"))
    parser.expire()
    raise _no_reply(where, timeout_s, received, echoes, notes, parser)


def _no_reply(
    where: str, timeout_s: float, received: int, echoes: int, notes: list[str], parser: StreamParser
) -> SourceError:
    reasons = [r.reason for r in parser.rejections]
    # what follows a truncated record is its own tail: no evidence of corruption
    cut = reasons.index("truncated") if "truncated" in reasons else len(reasons)
    corrupt = [r for r in parser.rejections[:cut] if r.reason != "padding"]
    truncated = parser.rejections[cut : cut + 1]
    if corrupt:
        details = "; ".join(dict.fromkeys(r.detail for r in corrupt[-3:]))
        return FrameError(f"no valid reply ({where}, {timeout_s:g} s): {details}")
    if notes:
        return FrameError(f"no reply for us ({where}): {'; '.join(dict.fromkeys(notes))}")
    if truncated:
        return SourceTimeout(f"incomplete reply ({where}, {timeout_s:g} s): {truncated[0].detail}")
    if received and not echoes:
        return SourceTimeout(f"incomplete reply ({where}, {timeout_s:g} s): {received} bytes")
    if echoes:
        return NoReply(f"no reply ({where}, {timeout_s:g} s): only our request came back (RS485 echo)")
    return NoReply(f"no reply ({where}, {timeout_s:g} s)")
