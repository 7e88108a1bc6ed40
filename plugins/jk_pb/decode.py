"""One entry point for every record, and for the bytes of a whole poll as captured on the line (pure).

:func:`decode_record` turns a record into its dataclass with a given layout. :func:`decode_capture`
takes raw line bytes (a bare record, or echo + record + padding + ACK, or several polls), finds the
records, and picks the cell-info layout: the one named, else the one a device-info record in the same
capture implies, else whichever of 32S and 24S gives physical content (32S first: every PB is 32S).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.errors import ImplausibleReply

from .cellinfo import CellInfo, decode_cell_info
from .jk04 import Jk04CellInfo, decode_jk04_cell_info
from .layout import LAYOUT_24S, LAYOUT_32S, LAYOUT_JK04, layout_for_device
from .records import CELL_INFO, DEVICE_INFO, SETTINGS, JkPbFrameError, Record
from .settings import DeviceInfo, Settings, decode_device_info, decode_settings
from .stream import Ack, Request, StreamParser

Decoded = CellInfo | Jk04CellInfo | Settings | DeviceInfo
AUTO = "auto"


def decode_record(record: Record, layout: str) -> Decoded:
    """Decode ``record``; ``layout`` (``24s``, ``32s``, ``jk04``) matters for cell info only.

    :raises ImplausibleReply: impossible content. :raises JkPbFrameError: a record type this
    decoder does not read (JK04 settings).
    """
    if record.frame_type == CELL_INFO:
        if layout == LAYOUT_JK04:
            return decode_jk04_cell_info(record)
        return decode_cell_info(record, layout)
    if record.frame_type == SETTINGS:
        if layout == LAYOUT_JK04:
            raise JkPbFrameError("unsupported", "JK04 settings records are not decoded")
        return decode_settings(record)
    return decode_device_info(record)


def decode_cell_info_auto(record: Record) -> CellInfo:
    """Cell info in whichever JK02 layout gives physical content, 32S first.

    :raises ImplausibleReply: neither does (the message gives both reasons).
    """
    try:
        return decode_cell_info(record, LAYOUT_32S)
    except ImplausibleReply as as_32s:
        try:
            return decode_cell_info(record, LAYOUT_24S)
        except ImplausibleReply as as_24s:
            raise ImplausibleReply(f"as 32S: {as_32s}; as 24S: {as_24s}") from None


@dataclass(frozen=True, slots=True)
class CaptureItem:
    """One record found in a capture, decoded, with the address of the ACK that followed it."""

    record: Record
    value: Decoded
    address: int | None


@dataclass(frozen=True, slots=True)
class Capture:
    """What a capture held: its decoded records, and what was skipped on the way (one line each)."""

    items: tuple[CaptureItem, ...]
    skipped: tuple[str, ...]


def decode_capture(data: bytes, layout: str = AUTO) -> Capture:
    """Decode every record in ``data``. :raises JkPbFrameError: no record, or a corrupt piece in it.

    :raises ImplausibleReply: a record's content is impossible.
    """
    parser = StreamParser()
    pieces = parser.feed(data) + parser.expire()
    bad = [r for r in parser.rejections if r.reason != "padding"]
    if bad:
        raise JkPbFrameError(bad[0].reason, bad[0].detail)
    records = [p for p in pieces if isinstance(p, Record)]
    if not records:
        raise JkPbFrameError("no_record", f"no 55 AA EB 90 record in {len(data)} bytes")
    if layout == AUTO:
        devices = [decode_device_info(r) for r in records if r.frame_type == DEVICE_INFO]
        if devices:
            d = devices[0]
            layout = layout_for_device(d.model, d.hardware_version, d.software_version)
    skipped = [f"{r.dropped} bytes of 00 padding" for r in parser.rejections]
    items: list[CaptureItem] = []
    for index, piece in enumerate(pieces):
        if isinstance(piece, Request):
            skipped.append(f"request to address {piece.address} (register 0x{piece.register:04X}): an echo")
        elif isinstance(piece, Ack):
            skipped.append(f"ACK from address {piece.address} (register 0x{piece.register:04X})")
        else:
            follower = pieces[index + 1] if index + 1 < len(pieces) else None
            address = follower.address if isinstance(follower, Ack) else None
            if piece.frame_type == CELL_INFO and layout == AUTO:
                value: Decoded = decode_cell_info_auto(piece)
            else:
                value = decode_record(piece, LAYOUT_32S if layout == AUTO else layout)
            items.append(CaptureItem(piece, value, address))
    return Capture(tuple(items), tuple(skipped))
