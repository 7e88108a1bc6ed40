"""Pure: candump logs to frames, with bounded work per line and no regular expressions.

Reads ``candump -l`` log files (``(1700000000.123456) can0 351#1402...``) and candump's screen
output (``  can0  351   [8]  14 02 ...``, with or without ``-t a``). As candump itself, a 3-digit
id is an 11-bit frame and an 8-digit id a 29-bit one; any other id, full-width or underscored
digits, remote and CAN FD frames are not frames here. :func:`read_lines` streams a log of any size
line by line with a line-length cap, so neither a huge line nor a huge file is held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: A longer line is not a candump line (real ones are under 120 characters).
MAX_LINE_BYTES = 1024
#: A single line longer than this ends the read: the input is not a candump log at all.
MAX_DISCARD_BYTES = 16 << 20
HEX = frozenset("0123456789abcdefABCDEF")
DIGITS = frozenset("0123456789")


class CandumpError(ValueError):
    """The input cannot be a candump log (one line of text says why)."""


@dataclass(frozen=True, slots=True)
class CandumpFrame:
    """One frame read from a candump log; ``timestamp_s`` is None when the line had none."""

    line_number: int
    timestamp_s: float | None
    channel: str
    arbitration_id: int
    data: bytes
    is_extended_id: bool = False


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of a log as read: its text, or why it could not be read as text."""

    number: int
    text: str | None
    problem: str | None = None


def parse_candump_line(line: str, line_number: int = 0) -> CandumpFrame | None:
    """One frame from a candump line, or None for blank lines, comments and other lines.

    Remote and CAN FD frames (``R``, ``##``) are skipped. A screen line whose ``[dlc]`` disagrees
    with its byte count is skipped too (it was cut).
    """
    if len(line) > MAX_LINE_BYTES:
        return None
    text = line.strip()
    if not text or text.startswith(("#", "//")):
        return None
    stamp: str | None = None
    if text.startswith("("):
        close = text.find(")")
        if close < 0:
            return None
        stamp, text = text[1:close], text[close + 1 :]
    tokens = text.split()
    if len(tokens) >= 2 and "#" in tokens[1]:
        if stamp is None or not _decimal(stamp) or len(tokens) > 3:
            return None
        return _log_frame(line_number, float(stamp), tokens[0], tokens[1])
    return _screen_frame(line_number, stamp, text)


def parse_candump(lines: Iterable[str]) -> Iterator[CandumpFrame]:
    """Every frame in a candump log, in order (lines that are not frames are skipped)."""
    for number, line in enumerate(lines, start=1):
        frame = parse_candump_line(line, number)
        if frame is not None:
            yield frame


def read_lines(stream: BinaryIO) -> Iterator[LogLine]:
    """The lines of a binary stream, one at a time, each at most :data:`MAX_LINE_BYTES`.

    A longer line, or one that is not UTF-8, comes back with ``text`` None and the reason.
    :raises CandumpError: a line longer than :data:`MAX_DISCARD_BYTES` (not a log at all).
    """
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            _discard_rest(stream, raw, number)
            yield LogLine(number, None, f"longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            yield LogLine(number, raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError:
            yield LogLine(number, None, "not UTF-8 text")


def _discard_rest(stream: BinaryIO, raw: bytes, number: int) -> None:
    discarded = len(raw)
    while not raw.endswith(b"\n"):
        raw = stream.readline(65536)
        if not raw:
            return
        discarded += len(raw)
        if discarded > MAX_DISCARD_BYTES:
            raise CandumpError(f"line {number} is longer than {MAX_DISCARD_BYTES} bytes: not a candump log")


def _log_frame(number: int, stamp: float, channel: str, token: str) -> CandumpFrame | None:
    ident, _, payload = token.partition("#")
    parsed = _identifier(ident)
    if parsed is None or payload.startswith(("#", "R", "r")) or len(payload) > 16:
        return None
    data = _hex_bytes(payload)
    if data is None:
        return None
    return CandumpFrame(number, stamp, channel, parsed[0], data, parsed[1])


def _screen_frame(number: int, stamp: str | None, text: str) -> CandumpFrame | None:
    body, quote, ascii_part = text.partition("'")
    if quote and not ascii_part.rstrip().endswith("'"):
        return None
    tokens = body.split()
    if len(tokens) < 3 or len(tokens) > 11:
        return None
    parsed = _identifier(tokens[1])
    dlc = tokens[2]
    if parsed is None or not (dlc.startswith("[") and dlc.endswith("]") and _digits(dlc[1:-1], 2)):
        return None
    if any(len(t) != 2 for t in tokens[3:]):
        return None
    data = _hex_bytes("".join(tokens[3:]))
    if data is None or len(data) != int(dlc[1:-1]) or len(data) > 8:
        return None
    when = float(stamp) if stamp is not None and _decimal(stamp) else None
    return CandumpFrame(number, when, tokens[0], parsed[0], data, parsed[1])


def _identifier(text: str) -> tuple[int, bool] | None:
    """(id, extended) of candump's 3-digit or 8-digit hex id, None for anything else."""
    if len(text) not in (3, 8) or not set(text) <= HEX:
        return None
    value = int(text, 16)
    if len(text) == 8 and value > 0x1FFFFFFF:
        return None
    return value, len(text) == 8


def _hex_bytes(text: str) -> bytes | None:
    if len(text) % 2 or not set(text) <= HEX:
        return None
    return bytes.fromhex(text)


def _digits(text: str, most: int) -> bool:
    return 0 < len(text) <= most and set(text) <= DIGITS


def _decimal(text: str) -> bool:
    whole, dot, fraction = text.partition(".")
    return _digits(whole, 12) and (not dot or _digits(fraction, 12))
