"""One request and its reply frames on an open port: flush, write, collect, refuse what is not ours.

The I/O edge of the plugin's poll, kept apart from the source's bookkeeping. :func:`exchange` flushes
the input, writes one request and feeds what arrives to a :class:`FrameAssembler` until the wanted
number of reply frames is in, or the deadline passes. A frame is taken only if it is a reply from our
board to this data id, and arrived no sooner than its own wire time after the request was written
(x 0.9): anything faster was already on its way, a late reply to an earlier request. Echoed
requests, other boards' replies and replies to other ids are counted and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway_core.clock import Clock
from gateway_core.errors import FrameError, SourceError, SourceTimeout
from gateway_core.ptysim import wire_time_s

from .protocol import FRAME_SIZE, Frame, FrameAssembler, build_request

#: The port's read timeout, set once at open: a read returns at its first byte or after this slice,
#: so an exchange may end up to one slice after its deadline (the poll allows for it).
READ_SLICE_S = 0.02
EARLY_FACTOR = 0.9


@dataclass
class Tally:
    """What arrived during one exchange besides the frames taken."""

    received: int = 0
    echoes: int = 0
    other_boards: int = 0
    other_ids: int = 0
    early: int = 0


@dataclass(frozen=True, slots=True)
class Exchange:
    """Where and how one exchange runs: the port, our board, the line speed, the clocks."""

    port: Any
    board: int
    baudrate: int
    clock: Clock
    wire_clock: Callable[[], float]  # real seconds: the wire-time rule is physical
    where: str


def exchange(
    ex: Exchange, assembler: FrameAssembler, data_id: int, wanted: int, deadline: float
) -> list[Frame]:
    """Ask for ``data_id`` and return its ``wanted`` reply frames, in arrival order.

    ``deadline`` is on ``ex.clock``; silent read slices also bound the wait, whatever that clock does.
    :raises SourceTimeout: not all frames in time. :raises FrameError: only corrupt bytes arrived.
    Port errors (OSError, SerialException) pass through for the caller to map.
    """
    request = build_request(data_id, ex.board)
    assembler.reset()
    ex.port.reset_input_buffer()
    # stamped before the write: a thread switch after it must not make our own reply look early
    sent_at = ex.wire_clock()
    ex.port.write(request)
    budget = max(0.0, deadline - ex.clock.now())
    got: list[Frame] = []
    tally = Tally()
    idle_s = 0.0
    while len(got) < wanted and ex.clock.now() < deadline and idle_s < budget:
        data = ex.port.read(ex.port.in_waiting or 1)  # returns at the first byte, or after one slice
        if not data:
            idle_s += ex.port.timeout or READ_SLICE_S
            continue
        tally.received += len(data)
        arrived_s = ex.wire_clock() - sent_at
        for frame in assembler.feed(data):
            _sort(ex, frame, data_id, len(request), arrived_s, got, tally)
    if len(got) < wanted:
        arrived_s = ex.wire_clock() - sent_at
        for frame in assembler.expire():
            _sort(ex, frame, data_id, len(request), arrived_s, got, tally)
    if len(got) < wanted:
        raise no_reply(ex, assembler, data_id, wanted, len(got), tally, budget)
    return got[:wanted]


def _sort(
    ex: Exchange, frame: Frame, data_id: int, sent: int, arrived_s: float, got: list[Frame], tally: Tally
) -> None:
    if frame.is_request:
        tally.echoes += 1
    elif frame.board != ex.board:
        tally.other_boards += 1
    elif frame.data_id != data_id:
        tally.other_ids += 1
    elif arrived_s < EARLY_FACTOR * wire_time_s(sent + FRAME_SIZE * (len(got) + 1), ex.baudrate):
        tally.early += 1
    else:
        got.append(frame)


def no_reply(
    ex: Exchange, assembler: FrameAssembler, data_id: int, wanted: int, got: int, tally: Tally, budget: float
) -> SourceError:
    """The error that says best why ``data_id`` got no complete reply."""
    rejections = assembler.rejections
    reasons = [r.reason for r in rejections]
    # what follows a dropped, truncated candidate is its own tail: not evidence of corruption
    first_truncated = reasons.index("truncated") if "truncated" in reasons else len(rejections)
    corrupt = rejections[:first_truncated]
    where = f"0x{data_id:02X} from board {ex.board} ({ex.where}, {budget:.2g} s)"
    if corrupt and not got:
        details = "; ".join(dict.fromkeys(r.detail for r in corrupt[-3:]))
        return FrameError(f"no valid reply to {where}: {details}")
    if got:
        return SourceTimeout(f"incomplete reply to {where}: {got} of {wanted} frames")
    if rejections:
        return SourceTimeout(f"incomplete reply to {where}: {rejections[first_truncated].detail}")
    if tally.early or tally.other_ids:
        return SourceTimeout(f"no reply to {where}: only late replies to earlier requests arrived")
    if tally.other_boards:
        return SourceTimeout(f"no reply to {where}: only other boards answered")
    if tally.echoes:
        return SourceTimeout(f"no reply to {where}: only our request came back (RS485 echo)")
    if tally.received:
        return SourceTimeout(f"incomplete reply to {where}: {tally.received} bytes")
    return SourceTimeout(f"no reply to {where}")
