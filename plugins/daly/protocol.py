"""Daly UART/RS485 framing: requests, the sum8, and a resumable, resynchronising frame parser.

Pure: bytes in, :class:`Frame` objects out; no port and no clock. Every frame is 13 bytes::

    0     1         2        3     4 ........... 11   12
    +-----+---------+--------+-----+----------------+------+
    | A5  | address | data id| 08  | 8 data bytes   | sum8 |
    +-----+---------+--------+-----+----------------+------+

``sum8`` is the low byte of the sum of bytes 0..11 (a checksum of 0x00 is legitimate). Requests
carry the sender's address (0x40 for a PC on board 1; 0x3F + board for RS485 board numbers, 0x80
Bluetooth, 0x20 GPRS); replies carry the board number (0x01 for a single BMS). A parser for board
``n`` therefore resynchronises on ``A5 0n`` (``A5 01`` by default) and also recognises request
frames, so that a half-duplex adapter's echo of our own request is skipped, not taken for garbage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway_core.errors import FrameError

START = 0xA5
DATA_LENGTH = 0x08
FRAME_SIZE = 13
MAX_BOARD = 16  # the board numbers an RS485 line may carry (Daly's PC tool sets them)
HOST_PC = 0x40  # the request address of a PC talking to board 1
HOST_BLUETOOTH, HOST_GPRS = 0x80, 0x20

#: The data ids of the read protocol, with what each carries.
POLL_IDS: dict[int, str] = {
    0x90: "pack voltage, current, SOC",
    0x91: "highest and lowest cell",
    0x92: "highest and lowest temperature",
    0x93: "charge/discharge state, MOSFETs, remaining capacity",
    0x94: "cell and probe counts, cycles",
    0x95: "cell voltages",
    0x96: "probe temperatures",
    0x97: "balancing",
    0x98: "failure bits",
}
#: The ids a poll asks for, in order: those the reading uses. Not 0x91 (the extremes of the cells
#: 0x95 gives whole) nor 0x97 (balancing, not decoded): they would only cost wire time.
READ_IDS = (0x90, 0x93, 0x94, 0x95, 0x96, 0x98)
#: Asked for in place of an id the unit does not answer: 0x92's extremes stand in for 0x96's probes.
FALLBACK_IDS = {0x96: 0x92}
#: Without these a poll gives no reading; the others may be missing on some firmwares.
REQUIRED_IDS = (0x90, 0x94, 0x95)
MULTI_FRAME_IDS = (0x95, 0x96)

#: Why the parser dropped bytes; each :class:`Rejection` carries one of these plus a detail.
REASONS = ("garbage", "address", "length", "checksum", "truncated")


class DalyFrameError(FrameError):
    """A Daly frame could not be parsed or decoded; ``reason`` is a short machine-readable word.

    Framing reasons are :data:`REASONS`; decoding adds those of :data:`daly.decode.DECODE_REASONS`.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete, checksum-verified 13-byte frame; ``data`` is its 8 data bytes."""

    address: int
    data_id: int
    data: bytes
    raw: bytes

    @property
    def is_request(self) -> bool:
        """True for a request (a host address), e.g. ours echoed by a half-duplex RS485 adapter."""
        return is_request_address(self.address)

    @property
    def board(self) -> int:
        """The board number of a reply (its address byte)."""
        return self.address


@dataclass(frozen=True, slots=True)
class Rejection:
    """Bytes the parser dropped: ``reason`` (one of :data:`REASONS`), a one-line detail, the count."""

    reason: str
    detail: str
    dropped: int


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The Daly sum8: the low byte of the sum of ``data`` (bytes 0..11 of a frame)."""
    return sum(data) & 0xFF


def request_address(board: int) -> int:
    """The address byte of a request to ``board`` (board 1 = 0x40, board 2 = 0x41, ...)."""
    _check_board(board)
    return HOST_PC - 1 + board


def is_request_address(address: int) -> bool:
    """True for the address bytes hosts put in requests (PC/RS485 boards, Bluetooth, GPRS)."""
    return HOST_PC <= address < HOST_PC + MAX_BOARD or address in (HOST_BLUETOOTH, HOST_GPRS)


def is_known_address(address: int) -> bool:
    """True for any address byte a frame may carry (a board number 1-16 or a host address)."""
    return 1 <= address <= MAX_BOARD or is_request_address(address)


def _check_board(board: int) -> None:
    if not 1 <= board <= MAX_BOARD:
        raise ValueError(f"board {board} outside 1..{MAX_BOARD}")


def build_frame(address: int, data_id: int, data: bytes = bytes(8)) -> bytes:
    """A complete 13-byte frame with its sum8."""
    if len(data) != DATA_LENGTH:
        raise ValueError(f"a Daly frame carries 8 data bytes, not {len(data)}")
    body = bytes((START, address, data_id, DATA_LENGTH)) + data
    return body + bytes((checksum(body),))


def build_request(data_id: int, board: int = 1) -> bytes:
    """The read request for ``data_id`` to ``board``: ``A5 40 ID 08 00x8 sum`` for board 1."""
    return build_frame(request_address(board), data_id)


def build_reply(data_id: int, data: bytes, board: int = 1) -> bytes:
    """A reply frame from ``board`` (as the BMS, or its simulator, sends it)."""
    _check_board(board)
    return build_frame(board, data_id, data)


def check_candidate(buf: bytes | bytearray) -> Rejection | None:
    """Why 13 bytes starting with ``A5`` and a known address are not a frame (``None``: they are)."""
    if buf[3] != DATA_LENGTH:
        return Rejection("length", f"length byte 0x{buf[3]:02X} (a Daly frame always says 08)", 1)
    computed, given = checksum(buf[:12]), buf[12]
    if computed != given:
        return Rejection(
            "checksum", f"checksum mismatch on 0x{buf[2]:02X}: computed 0x{computed:02X}, frame says "
            f"0x{given:02X}", 1,
        )  # fmt: skip
    return None


def _frame(buf: bytes) -> Frame:
    return Frame(buf[1], buf[2], buf[4:12], buf)


def parse_frame(raw: bytes) -> Frame:
    """Parse exactly one 13-byte frame. :raises DalyFrameError: with the reason it is refused."""
    if len(raw) < FRAME_SIZE:
        raise DalyFrameError("truncated", f"{len(raw)} bytes is shorter than a frame ({FRAME_SIZE})")
    if len(raw) > FRAME_SIZE:
        raise DalyFrameError("length", f"{len(raw)} bytes; a frame is {FRAME_SIZE}")
    if raw[0] != START:
        raise DalyFrameError("garbage", f"does not start with A5 (starts with {raw[0]:02X})")
    if not is_known_address(raw[1]):
        raise DalyFrameError("address", f"A5 followed by 0x{raw[1]:02X}, not a board or host address")
    rejection = check_candidate(raw)
    if rejection is not None:
        raise DalyFrameError(rejection.reason, rejection.detail)
    return _frame(bytes(raw))


def split_frames(raw: bytes) -> list[Frame]:
    """Parse concatenated frames exactly (no garbage allowed). :raises DalyFrameError: at the first fault.

    The error names the frame (1-based) that failed, so a user can find it in a long capture.
    """
    if not raw:
        raise DalyFrameError("truncated", "no bytes")
    frames: list[Frame] = []
    for number, offset in enumerate(range(0, len(raw), FRAME_SIZE), start=1):
        chunk = raw[offset : offset + FRAME_SIZE]
        try:
            frames.append(parse_frame(chunk))
        except DalyFrameError as exc:
            where = f"frame {number} (bytes {offset}..{offset + len(chunk) - 1})"
            raise DalyFrameError(exc.reason, f"{where}: {exc}") from None
    return frames


class FrameAssembler:
    """Resumable parser: :meth:`feed` bytes as they arrive and get the frames they complete.

    A candidate starts with ``A5`` and a known address byte (a board number or a host address).
    Garbage, an unknown address, a length byte other than 08 or a wrong sum drop one byte and the
    scan goes on (a false ``A5`` may overlap the real frame). Each drop is recorded in
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

    def reset(self) -> None:
        """Forget buffered bytes and past rejections (before each request)."""
        self._buf.clear()
        self.rejections.clear()

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        """Append ``data`` and return every frame now complete, in order."""
        self._buf += data
        return self._scan()

    def expire(self) -> list[Frame]:
        """The deadline passed: drop a pending candidate's first byte (truncated) and rescan."""
        if self._buf and self._buf[0] == START:
            self._reject(
                Rejection(
                    "truncated", f"incomplete frame at the deadline: got {len(self._buf)} of 13 bytes", 1
                )
            )
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
                self._reject(Rejection("garbage", f"{len(buf)} bytes of garbage, no frame start", len(buf)))
                break
            if start > 0:
                self._reject(Rejection("garbage", f"{start} bytes of garbage before a frame start", start))
                continue
            if len(buf) < 2:
                break
            if not is_known_address(buf[1]):
                self._reject(
                    Rejection("address", f"A5 followed by 0x{buf[1]:02X}, not a board or host address", 1)
                )
                continue
            if len(buf) >= 4 and buf[3] != DATA_LENGTH:
                self._reject(
                    Rejection("length", f"length byte 0x{buf[3]:02X} (a Daly frame always says 08)", 1)
                )
                continue
            if len(buf) < FRAME_SIZE:
                break
            rejection = check_candidate(buf)
            if rejection is not None:
                self._reject(rejection)
                continue
            frames.append(_frame(bytes(buf[:FRAME_SIZE])))
            del buf[:FRAME_SIZE]
        return frames
