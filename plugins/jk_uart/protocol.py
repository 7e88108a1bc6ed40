"""JK BMS "4E 57" framing: the request, the checksum and a resumable, resynchronising frame parser.

Pure: bytes in, :class:`Frame` objects out; no port and no clock. Frame layout (offsets from ``4E``)::

    0      2      4          8     9      10         11 ... L-8   L-7      L-3  L-2      L
    +------+------+----------+-----+------+----------+-----------+--------+----+--------+-------+
    | 4E57 |  L   | terminal | cmd | src  | transport| data      | record | 68 | 00 00  |  sum  |
    +------+------+----------+-----+------+----------+-----------+--------+----+--------+-------+

``L`` (u16 big-endian) counts the bytes after ``4E 57``, so a frame is ``L + 2`` bytes long; ``sum``
is the 16-bit sum of bytes ``0 .. L-3`` (up to and including the ``68`` end marker).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway_core.errors import FrameError, ImplausibleReply

START = b"NW"  # 4E 57
END_MARKER = 0x68
MIN_LENGTH = 19
MAX_LENGTH = 512
HEADER_SIZE = 11  # start, length, terminal, command, source, transport
TRAILER_SIZE = 9  # record number (4), end marker, 00 00, sum (2)

COMMAND_READ_ID = 0x03
COMMAND_READ_ALL = 0x06
SOURCE_BMS, SOURCE_BLE, SOURCE_GPS, SOURCE_PC = 0x00, 0x01, 0x02, 0x03
TRANSPORT_REQUEST, TRANSPORT_REPLY, TRANSPORT_UPLOAD = 0x00, 0x01, 0x02

#: Why the parser dropped bytes; each :class:`Rejection` carries one of these plus a detail.
REASONS = ("garbage", "length", "trailer", "checksum", "truncated")


class JkFrameError(FrameError):
    """A JK frame could not be parsed or decoded; ``reason`` is a short machine-readable word.

    Framing reasons are :data:`REASONS`; decoding adds those of :data:`jk_uart.decode.DECODE_REASONS`.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class JkImplausibleReply(JkFrameError, ImplausibleReply):
    """A reply whose framing and checksum are valid but whose content cannot be (reason ``implausible``).

    SOC above 100 %, a temperature code outside 0..140, an unknown protocol version, a cell record
    that is not 3 x N or misnumbered, a cell count (0x8A, 0xA9) contradicting the cells: the engine
    stops at once instead of keeping the last good reading until it is stale.
    """

    def __init__(self, message: str) -> None:
        super().__init__("implausible", message)


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete, checksum-verified frame; ``data`` is the id/value section."""

    command: int
    source: int
    transport: int
    data: bytes
    raw: bytes

    @property
    def is_request(self) -> bool:
        """True for transport ``00`` (a request, e.g. ours echoed by a half-duplex RS485 adapter)."""
        return self.transport == TRANSPORT_REQUEST


@dataclass(frozen=True, slots=True)
class Rejection:
    """Bytes the parser dropped: ``reason`` (one of :data:`REASONS`), a one-line detail, the count."""

    reason: str
    detail: str
    dropped: int


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The 16-bit sum of ``data`` (the JK checksum over bytes ``0 .. L-3``)."""
    return sum(data) & 0xFFFF


def build_frame(
    data: bytes,
    *,
    command: int = COMMAND_READ_ALL,
    source: int = SOURCE_BMS,
    transport: int = TRANSPORT_REPLY,
    record: int = 0,
) -> bytes:
    """Wrap ``data`` in a complete frame with length, end marker and checksum."""
    length = len(data) + HEADER_SIZE + TRAILER_SIZE - 2
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"frame length {length} outside {MIN_LENGTH}..{MAX_LENGTH}")
    body = (
        START
        + length.to_bytes(2, "big")
        + bytes(4)
        + bytes((command, source, transport))
        + data
        + record.to_bytes(4, "big")
        + bytes((END_MARKER,))
    )
    return body + bytes(2) + checksum(body).to_bytes(2, "big")


def build_request(*, source: int = SOURCE_PC, command: int = COMMAND_READ_ALL, data_id: int = 0x00) -> bytes:
    """The 21-byte read request (``06`` read all, or ``03`` with id ``00``) from ``source`` (3 PC, 2 GPS)."""
    return build_frame(bytes((data_id,)), command=command, source=source, transport=TRANSPORT_REQUEST)


def check_candidate(buf: bytes | bytearray) -> Rejection | None:
    """Why a complete candidate (``buf`` holds exactly ``L + 2`` bytes from ``4E 57``) is not a frame."""
    length = int.from_bytes(buf[2:4], "big")
    if buf[length - 3] != END_MARKER:
        return Rejection(
            "trailer",
            f"end marker 0x68 missing at offset {length - 3} (found 0x{buf[length - 3]:02X}): "
            f"wrong length field {length} or corrupt frame",
            1,
        )
    if buf[length - 2] or buf[length - 1]:
        return Rejection("trailer", f"bytes {length - 2}..{length - 1} before the checksum are not 00 00", 1)
    computed = checksum(buf[: length - 2])
    given = int.from_bytes(buf[length : length + 2], "big")
    if computed != given:
        return Rejection(
            "checksum", f"checksum mismatch: computed 0x{computed:04X}, frame says 0x{given:04X}", 1
        )
    return None


def _frame(buf: bytes) -> Frame:
    return Frame(buf[8], buf[9], buf[10], buf[HEADER_SIZE : len(buf) - TRAILER_SIZE], buf)


def parse_frame(raw: bytes) -> Frame:
    """Parse exactly one complete frame. :raises JkFrameError: with the reason it is refused."""
    if len(raw) < MIN_LENGTH + 2:
        raise JkFrameError(
            "truncated", f"{len(raw)} bytes is shorter than the smallest frame ({MIN_LENGTH + 2})"
        )
    if raw[:2] != START:
        raise JkFrameError("garbage", f"does not start with 4E 57 (starts with {raw[:2].hex(' ').upper()})")
    length = int.from_bytes(raw[2:4], "big")
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise JkFrameError("length", f"length field {length} outside {MIN_LENGTH}..{MAX_LENGTH}")
    if len(raw) < length + 2:
        raise JkFrameError(
            "truncated", f"got {len(raw)} of the {length + 2} bytes the length field announces"
        )
    if len(raw) > length + 2:
        raise JkFrameError(
            "length", f"{len(raw) - length - 2} bytes follow the frame end its length field gives"
        )
    rejection = check_candidate(raw)
    if rejection is not None:
        raise JkFrameError(rejection.reason, rejection.detail)
    return _frame(bytes(raw))


class FrameAssembler:
    """Resumable parser: :meth:`feed` bytes as they arrive and get the frames they complete.

    Resynchronises after garbage, a length out of bounds, a wrong end marker or checksum by dropping
    one byte and rescanning (a false ``4E 57`` may overlap the real frame). Each drop is recorded in
    :attr:`rejections` (the last ``keep`` of them) and passed to ``on_reject``. Never raises.
    """

    def __init__(self, on_reject: Callable[[Rejection], None] | None = None, keep: int = 32) -> None:
        self._buf = bytearray()
        self._on_reject = on_reject
        self._keep = keep
        self.rejections: list[Rejection] = []

    @property
    def pending(self) -> int:
        """Bytes buffered and not yet part of a frame."""
        return len(self._buf)

    def waiting_for(self) -> int | None:
        """Total bytes of the candidate frame being assembled, or ``None`` when no length is known."""
        if len(self._buf) >= 4 and self._buf[:2] == START:
            return int.from_bytes(self._buf[2:4], "big") + 2
        return None

    def reset(self) -> None:
        """Forget buffered bytes and past rejections (before each request)."""
        self._buf.clear()
        self.rejections.clear()

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        """Append ``data`` and return every frame now complete, in order."""
        self._buf += data
        return self._scan()

    def expire(self) -> list[Frame]:
        """The deadline passed: drop the pending candidate's first byte (truncated) and rescan."""
        if len(self._buf) >= 2 and self._buf[:2] == START:
            expected = self.waiting_for()
            have = f"got {len(self._buf)} of {expected} bytes" if expected else f"got {len(self._buf)} bytes"
            self._reject(Rejection("truncated", f"incomplete frame at the deadline: {have}", 1))
            return self._scan()
        return []

    def _reject(self, rejection: Rejection) -> None:
        del self._buf[: rejection.dropped]
        self.rejections.append(rejection)
        del self.rejections[: -self._keep]
        if self._on_reject is not None:
            self._on_reject(rejection)

    def _scan(self) -> list[Frame]:
        frames: list[Frame] = []
        buf = self._buf
        while buf:
            start = buf.find(START)
            if start < 0:
                keep = 1 if buf[-1] == START[0] else 0
                if len(buf) > keep:
                    self._reject(
                        Rejection(
                            "garbage", f"{len(buf) - keep} bytes of garbage, no frame start", len(buf) - keep
                        )
                    )
                break
            if start > 0:
                self._reject(Rejection("garbage", f"{start} bytes of garbage before a frame start", start))
                continue
            if len(buf) < 4:
                break
            length = int.from_bytes(buf[2:4], "big")
            if not MIN_LENGTH <= length <= MAX_LENGTH:
                self._reject(
                    Rejection("length", f"length field {length} outside {MIN_LENGTH}..{MAX_LENGTH}", 1)
                )
                continue
            if len(buf) < length + 2:
                break
            rejection = check_candidate(buf)
            if rejection is not None:
                self._reject(rejection)
                continue
            frames.append(_frame(bytes(buf[: length + 2])))
            del buf[: length + 2]
        return frames
