"""JBD "DD … 77" framing: requests, replies, the checksum, and one-frame parsing.

Pure: bytes in, :class:`Frame` objects out; no port and no clock. Layout (offsets from ``DD``)::

    0    1      2        3     4 .. 3+n   4+n  5+n   6+n
    +----+------+--------+-----+---------+----------+----+
    | DD | reg  | status | n   | data[n] | chk (BE) | 77 |     a reply
    | DD | A5   | reg    | 00  |         | chk (BE) | 77 |     a read request
    +----+------+--------+-----+---------+----------+----+

``chk = (0x10000 - sum(bytes 2 .. 3+n)) & 0xFFFF`` and a frame is ``n + 7`` bytes long. Byte 1 of a
reply echoes the register asked for; status ``0x00`` is OK, ``0x80`` means the BMS refused.
:mod:`jbd.assembler` reassembles frames from a byte stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.errors import FrameError

START = 0xDD
END = 0x77
READ = 0xA5
WRITE = 0x5A
OVERHEAD = 7  # DD, byte 1, byte 2, length, checksum (2), 77

REG_BASIC = 0x03
REG_CELLS = 0x04
REG_NAME = 0x05
REGISTER_NAMES = {REG_BASIC: "basic info", REG_CELLS: "cell voltages", REG_NAME: "hardware name"}
STATUS_OK = 0x00
STATUS_ERROR = 0x80

#: ``JbdFrameError.reason`` values of framing; :mod:`jbd.decode` adds its own.
REASONS = ("header", "truncated", "length", "end", "checksum", "status", "register", "echo", "unsupported")


class JbdFrameError(FrameError):
    """A JBD frame was refused; ``reason`` is a short machine-readable word (see :data:`REASONS`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def register_name(register: int) -> str:
    """``0x03 (basic info)``, or just ``0xAA`` for a register the plugin does not decode."""
    name = REGISTER_NAMES.get(register)
    if register in (READ, WRITE):
        name = f"the {'read' if register == READ else 'write'} command code, not a register"
    return f"0x{register:02X} ({name})" if name else f"0x{register:02X}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete, checksum-verified frame.

    For a reply, ``register`` is byte 1 and ``status`` byte 2; for a request (``request`` True, byte 1
    ``A5`` read or ``5A`` write) ``register`` is byte 2 and ``status`` is 0.
    """

    register: int
    status: int
    data: bytes
    raw: bytes
    request: bool = False

    @property
    def ok(self) -> bool:
        """True for a reply whose status byte says OK."""
        return not self.request and self.status == STATUS_OK


def checksum(body: bytes | bytearray | memoryview) -> int:
    """The JBD checksum of ``body`` (bytes 2 .. 3+n of a frame): 0x10000 minus their sum, 16 bits."""
    return (0x10000 - sum(body)) & 0xFFFF


def build_frame(byte1: int, byte2: int, data: bytes = b"") -> bytes:
    """A complete frame ``DD byte1 byte2 len data chk 77``. :raises ValueError: data over 255 bytes."""
    if len(data) > 0xFF:
        raise ValueError(f"{len(data)} data bytes do not fit the one-byte length")
    body = bytes((byte2, len(data))) + data
    return bytes((START, byte1)) + body + checksum(body).to_bytes(2, "big") + bytes((END,))


def build_request(register: int) -> bytes:
    """The 7-byte read request for ``register``, e.g. ``DD A5 03 00 FF FD 77``."""
    return build_frame(READ, register)


def build_reply(register: int, data: bytes, status: int = STATUS_OK) -> bytes:
    """A reply frame for ``register`` carrying ``data`` (what a BMS sends)."""
    return build_frame(register, status, data)


def frame_size(buf: bytes | bytearray) -> int:
    """Total bytes of the frame whose first 4 bytes are in ``buf`` (from its length byte)."""
    return buf[3] + OVERHEAD


def check_candidate(buf: bytes | bytearray) -> tuple[str, str] | None:
    """Why ``buf`` (exactly one candidate: ``DD`` .. its length byte's end) is not a frame, or None."""
    n = buf[3]
    if buf[n + 6] != END:
        return (
            "end",
            f"no 0x77 where the length byte (0x{n:02X} = {n} data bytes) puts the end (offset {n + 6} "
            f"holds 0x{buf[n + 6]:02X}): wrong length byte or corrupt frame",
        )
    computed = checksum(buf[2 : n + 4])
    given = int.from_bytes(buf[n + 4 : n + 6], "big")
    if computed != given:
        return "checksum", f"checksum mismatch: computed 0x{computed:04X}, frame says 0x{given:04X}"
    return None


def to_frame(buf: bytes | bytearray) -> Frame:
    """The :class:`Frame` of a verified candidate (see :func:`check_candidate`)."""
    raw = bytes(buf)
    n = raw[3]
    data = raw[4 : n + 4]
    if raw[1] == WRITE or (raw[1] == READ and n == 0):
        return Frame(raw[2], 0, data, raw, request=True)
    return Frame(raw[1], raw[2], data, raw)


def parse_frame(raw: bytes) -> Frame:
    """Parse exactly one complete frame. :raises JbdFrameError: with the reason it is refused."""
    if not raw:
        raise JbdFrameError("truncated", "no bytes")
    if raw[0] != START:
        raise JbdFrameError("header", f"does not start with DD (starts with {raw[:4].hex(' ').upper()})")
    if len(raw) < OVERHEAD:
        raise JbdFrameError("truncated", f"{len(raw)} bytes is shorter than the smallest frame (7)")
    size = frame_size(raw)
    if len(raw) != size and raw[-1] == END:
        raise JbdFrameError(
            "length",
            f"the length byte says {raw[3]} data bytes ({size}-byte frame) but the frame ending in 0x77 "
            f"holds {len(raw) - OVERHEAD}",
        )
    if len(raw) < size:
        raise JbdFrameError("truncated", f"got {len(raw)} of the {size} bytes the length byte announces")
    if len(raw) > size:
        raise JbdFrameError("length", f"{len(raw) - size} bytes follow the end its length byte gives")
    refused = check_candidate(raw)
    if refused is not None:
        raise JbdFrameError(*refused)
    return to_frame(raw)
