"""Decode a captured byte string of one or more JBD replies (``gateway jbd decode``), strictly.

Pure. Every byte must belong to a valid reply: the first piece the parser drops, a request, a
refused reply, a register this plugin does not decode or a register given twice is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from .assembler import FrameAssembler
from .decode import BasicInfo, check_cells, check_reply, decode_basic, decode_cells, decode_name
from .protocol import REG_BASIC, REG_CELLS, REG_NAME, JbdFrameError, parse_frame, register_name
from .upseries import find_up_frame


@dataclass(frozen=True, slots=True)
class Capture:
    """What the replies of a capture say; None for a register not in it."""

    basic: BasicInfo | None = None
    cells: tuple[float, ...] | None = None
    name: str | None = None


def decode_capture(raw: bytes) -> Capture:
    """Decode ``raw`` (replies back to back). :raises JbdFrameError: / :raises ImplausibleReply:."""
    up = find_up_frame(raw)
    if up is not None:
        raise JbdFrameError("unsupported", up.describe())
    assembler = FrameAssembler()
    frames = assembler.feed(raw) + assembler.expire()
    if assembler.rejections or not frames:
        if len(frames) <= 1:
            parse_frame(raw)  # one frame: its own precise reason (header, length, end, checksum ...)
        first = assembler.rejections[0]
        raise JbdFrameError(first.reason, first.detail)
    found: dict[int, bytes] = {}
    for frame in frames:
        check_reply(frame, frame.register)
        if frame.register not in (REG_BASIC, REG_CELLS, REG_NAME):
            raise JbdFrameError(
                "register",
                f"a reply to register {register_name(frame.register)}: only 0x03, 0x04 and 0x05 are decoded",
            )
        if frame.register in found:
            raise JbdFrameError("register", f"register {register_name(frame.register)} given twice")
        found[frame.register] = frame.data
    basic = decode_basic(found[REG_BASIC]) if REG_BASIC in found else None
    cells = decode_cells(found[REG_CELLS]) if REG_CELLS in found else None
    if basic is not None and cells is not None:
        check_cells(basic, cells)
    return Capture(basic, cells, decode_name(found[REG_NAME]) if REG_NAME in found else None)
