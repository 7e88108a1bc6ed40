"""Pure: Pylontech frames back to physical values, and candump logs to frames.

:func:`decode_frame` names each value after its DBC signal plus a unit suffix (``_v``, ``_a``,
``_pct``, ``_c``); one-bit flags become booleans, the ASCII fields (manufacturer, ``pn``) strings.
:func:`parse_candump` reads both ``candump -l`` log files (``(1700000000.123456) can0 351#1402...``)
and candump's screen output (``  can0  351   [8]  14 02 ...``, with or without ``-t a``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from .dbc import HEARTBEAT_ID, MANUFACTURER_ID, load_database

#: DBC unit -> suffix of the output key.
UNIT_SUFFIX = {"V": "_v", "A": "_a", "%": "_pct", "degC": "_c"}
#: Signals holding ASCII text (little-endian raw integers in the DBC).
TEXT_SIGNALS = {"manufacturer": 8, "pn": 2}


class FrameDecodeError(ValueError):
    """A frame cannot be decoded: unknown id, or too few data bytes."""


@dataclass(frozen=True, slots=True)
class CandumpFrame:
    """One frame read from a candump log; ``timestamp_s`` is None when the line had none."""

    line_number: int
    timestamp_s: float | None
    channel: str
    arbitration_id: int
    data: bytes


def frame_name(arbitration_id: int) -> str | None:
    """The DBC message name of ``arbitration_id`` (e.g. ``BatteryLimits``), None if not Pylontech."""
    try:
        return str(load_database().get_message_by_frame_id(arbitration_id).name)
    except KeyError:
        return None


def decode_frame(arbitration_id: int, data: bytes) -> dict[str, Any]:
    """Physical values of one frame, keyed by signal name plus unit suffix.

    Extra bytes are ignored; a short frame yields the signals it fully holds (0x351 without its
    discharge voltage limit). :raises FrameDecodeError: unknown id, or no complete signal.
    """
    db = load_database()
    try:
        message = db.get_message_by_frame_id(arbitration_id)
    except KeyError:
        raise FrameDecodeError(f"0x{arbitration_id:03X} is not a Pylontech V1.2 frame") from None
    payload = bytes(data)
    if arbitration_id in (MANUFACTURER_ID, HEARTBEAT_ID) and 0 < len(payload) < 8:
        payload = payload.ljust(8, b"\x00")  # some senders send a short name ("PYTES", 5 bytes)
    raw = cast(
        Mapping[str, int],
        message.decode(payload, decode_choices=False, scaling=False, allow_truncated=True),
    )
    if not raw:
        raise FrameDecodeError(
            f"0x{arbitration_id:03X} ({message.name}) has {len(data)} data bytes: too few to decode"
        )
    values: dict[str, Any] = {}
    for signal in message.signals:
        if signal.name not in raw:
            continue
        value = raw[signal.name]
        if signal.name in TEXT_SIGNALS:
            text = int(value).to_bytes(TEXT_SIGNALS[signal.name], "little")
            values[signal.name] = text.decode("ascii", "replace").rstrip(" \x00")
        elif signal.length == 1:
            values[signal.name] = bool(value)
        elif signal.scale == 1 and signal.offset == 0:
            values[signal.name + UNIT_SUFFIX.get(signal.unit or "", "")] = int(value)
        else:
            decimals = max(0, len(f"{signal.scale:g}".partition(".")[2]))
            physical = round(value * signal.scale + signal.offset, decimals)
            values[signal.name + UNIT_SUFFIX.get(signal.unit or "", "")] = physical
    return values


_LOG_LINE = re.compile(
    r"^\s*\((?P<ts>[0-9]+(?:\.[0-9]+)?)\)\s+(?P<channel>\S+)\s+"
    r"(?P<id>[0-9A-Fa-f]{1,8})#(?P<data>(?:[0-9A-Fa-f]{2})*)(?:\s+\S+)?\s*$"
)
_SCREEN_LINE = re.compile(
    r"^\s*(?:\((?P<ts>[^)]*)\)\s+)?(?P<channel>\S+)\s+(?P<id>[0-9A-Fa-f]{1,8})\s+"
    r"\[(?P<dlc>[0-9]{1,2})\]\s+(?P<data>(?:[0-9A-Fa-f]{2}(?:\s+|$))*)\s*(?:'.*')?$"
)


def parse_candump_line(line: str, line_number: int = 0) -> CandumpFrame | None:
    """One frame from a candump line, or None for blank lines, comments and other lines.

    Remote and CAN FD frames (``R``, ``##``) are skipped. A screen line whose ``[dlc]`` disagrees
    with its byte count is skipped too (it was cut).
    """
    text = line.rstrip("\r\n")
    if not text.strip() or text.lstrip().startswith(("#", "//")):
        return None
    match = _LOG_LINE.match(text)
    if match is None:
        match = _SCREEN_LINE.match(text)
        if match is None:
            return None
        data = bytes.fromhex(match["data"])
        if len(data) != int(match["dlc"]):
            return None
    else:
        data = bytes.fromhex(match["data"])
    if len(data) > 8:
        return None
    return CandumpFrame(line_number, _timestamp(match["ts"]), match["channel"], int(match["id"], 16), data)


def _timestamp(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_candump(lines: Iterable[str]) -> Iterator[CandumpFrame]:
    """Every frame in a candump log, in order (lines that are not frames are skipped)."""
    for number, line in enumerate(lines, start=1):
        frame = parse_candump_line(line, number)
        if frame is not None:
            yield frame


def decode_candump_frame(frame: CandumpFrame) -> dict[str, Any]:
    """One candump frame as a JSON-ready record: where, when, id, data and the decoded signals.

    ``signals`` is None and ``error`` says why when the frame cannot be decoded.
    """
    record: dict[str, Any] = {
        "line": frame.line_number,
        "timestamp_s": frame.timestamp_s,
        "channel": frame.channel,
        "id": f"0x{frame.arbitration_id:03X}",
        "name": frame_name(frame.arbitration_id),
        "data": frame.data.hex(" ").upper(),
    }
    try:
        record["signals"] = decode_frame(frame.arbitration_id, frame.data)
    except FrameDecodeError as exc:
        record["signals"] = None
        record["error"] = str(exc)
    return record
