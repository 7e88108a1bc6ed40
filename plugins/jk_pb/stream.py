"""A resumable parser for what a JK-PB line carries: records, ACKs, echoed requests, padding (pure).

Bytes go in as they arrive (any split); out come :class:`Record`, :class:`Ack` and :class:`Request`
pieces in order. Records are found by their header and taken as exactly 300 bytes, then kept only
when their frame type is known and their sum holds; function-0x10 pieces only when their Modbus CRC
holds. Whatever forms no piece (``00`` padding, garbage, a record with a bad sum, an ACK with a bad
CRC, a fragment left at the deadline) is dropped and recorded as a :class:`Rejection` with its
reason. A false header inside junk costs one byte: the scan resumes at the next byte, so a real
record overlapping it is still found. Never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .modbus import ACK_SIZE, FUNCTION, REQUEST_SIZE, crc_ok
from .records import HEADER, RECORD_SIZE, Record, problem

#: Why bytes were dropped; every :class:`Rejection` carries one of these.
REASONS = ("padding", "garbage", "frame_type", "checksum", "crc", "truncated")


@dataclass(frozen=True, slots=True)
class Ack:
    """A function-0x10 ACK: the pack at ``address`` confirms the write of ``register``."""

    address: int
    register: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class Request:
    """A function-0x10 trigger seen on the line (ours echoed by the adapter, or another master's)."""

    address: int
    register: int
    raw: bytes


Piece = Record | Ack | Request


@dataclass(frozen=True, slots=True)
class Rejection:
    """Bytes the parser dropped: ``reason`` (one of :data:`REASONS`), a one-line detail, the count."""

    reason: str
    detail: str
    dropped: int


class StreamParser:
    """Feed it bytes with :meth:`feed`; it returns the pieces they complete.

    :attr:`rejections` keeps the last ``keep`` drops (each also goes to ``on_reject``).
    """

    def __init__(self, on_reject: Callable[[Rejection], None] | None = None, keep: int = 64) -> None:
        self._buf = bytearray()
        self._garbage = 0
        self._on_reject = on_reject
        self._keep = keep
        self.rejections: list[Rejection] = []

    @property
    def pending(self) -> int:
        """Bytes buffered that are not yet a piece (a record or a Modbus piece in progress)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget buffered bytes and past rejections (before each request)."""
        self._buf.clear()
        self._garbage = 0
        self.rejections.clear()

    def feed(self, data: bytes | bytearray) -> list[Piece]:
        """Append ``data`` and return every piece now complete, in order."""
        self._buf += data
        return self._scan(final=False)

    def expire(self) -> list[Piece]:
        """The deadline passed: what is still buffered is a fragment; drop it (saying why)."""
        return self._scan(final=True)

    # -- scanning -----------------------------------------------------------------------------

    def _drop(self, rejection: Rejection) -> None:
        self._flush_garbage()
        del self._buf[: rejection.dropped]
        self._note(rejection)

    def _note(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)
        del self.rejections[: -self._keep]
        if self._on_reject is not None:
            self._on_reject(rejection)

    def _flush_garbage(self) -> None:
        if self._garbage:
            count, self._garbage = self._garbage, 0
            self._note(Rejection("garbage", f"{count} bytes that are no record, ACK or request", count))

    def _skip_byte(self) -> None:
        del self._buf[:1]
        self._garbage += 1

    def _scan(self, *, final: bool) -> list[Piece]:
        pieces: list[Piece] = []
        buf = self._buf
        while buf:
            if len(buf) == 1 and not final:
                break  # any byte may be the first of a record, or the address of an ACK or request
            verdict: Piece | str | None = None
            if buf[0] == HEADER[0]:
                verdict = self._record(buf, final)
            if verdict is None and buf[1:2] == bytes((FUNCTION,)):
                verdict = self._modbus(buf, final)
            if verdict is None and buf[0] == 0:
                zeros = len(buf) - len(buf.lstrip(b"\x00"))
                if (zeros == len(buf) and not final) or buf[zeros : zeros + 1] == bytes((FUNCTION,)):
                    zeros -= 1  # the last 00 may be the address of an ACK from a master (address 0)
                if zeros and self._garbage:  # zeros inside junk are junk
                    del buf[:zeros]
                    self._garbage += zeros
                    continue
                if zeros:
                    self._drop(Rejection("padding", f"{zeros} bytes of 00 padding", zeros))
                    continue
            if verdict == "wait":
                break
            if isinstance(verdict, Record | Ack | Request):
                self._flush_garbage()
                pieces.append(verdict)
                del buf[: len(verdict.raw)]
            elif verdict != "dropped":
                self._skip_byte()
        if final:
            self._flush_garbage()
        return pieces

    def _record(self, buf: bytearray, final: bool) -> Record | str | None:
        """A record at the start of ``buf``, ``"wait"`` for more bytes, ``"dropped"``, or ``None``."""
        head = bytes(buf[: len(HEADER)])
        if not HEADER.startswith(head):
            return None
        if len(buf) < RECORD_SIZE:
            if not final:
                return "wait"
            if len(head) < len(HEADER):
                return None
            self._drop(
                Rejection("truncated", f"incomplete record at the deadline: {len(buf)} of 300 bytes", 1)
            )
            return "dropped"
        raw = bytes(buf[:RECORD_SIZE])
        why = problem(raw)
        if why is not None:
            self._drop(Rejection(why[0], why[1], 1))
            return "dropped"
        return Record(raw[4], raw[5], raw)

    def _modbus(self, buf: bytearray, final: bool) -> Ack | Request | str | None:
        """An ACK or request at the start of ``buf``, ``"wait"``, ``"dropped"`` (bad CRC), or ``None``."""
        if len(buf) < ACK_SIZE:
            shape = bytes(buf[4:6])
            return None if final or not b"\x00\x01".startswith(shape) else "wait"
        if buf[4:6] != b"\x00\x01":
            return None
        register = int.from_bytes(buf[2:4], "big")
        ack = bytes(buf[:ACK_SIZE])
        if crc_ok(ack):
            return Ack(buf[0], register, ack)
        if buf[6:7] == b"\x02":
            if len(buf) < REQUEST_SIZE:
                return None if final else "wait"
            request = bytes(buf[:REQUEST_SIZE])
            if crc_ok(request):
                return Request(buf[0], register, request)
        self._drop(
            Rejection(
                "crc", f"function-0x10 piece for address {buf[0]} register 0x{register:04X}: bad CRC", 1
            )
        )
        return "dropped"
