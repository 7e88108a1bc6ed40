"""JK "55 AA EB 90" records: the 300-byte framing shared by JK-PB RS485 and JK Bluetooth (pure).

A record is the header ``55 AA EB 90``, the frame type (byte 4), a counter (byte 5: counts on
Bluetooth, 0 on RS485), 293 payload bytes and an 8-bit sum of bytes 0-298 at byte 299. The sum is
weak (1 in 256 random records pass), so a record also needs a known frame type, and its decoder
checks that the content is physical.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.errors import FrameError

HEADER = bytes((0x55, 0xAA, 0xEB, 0x90))
RECORD_SIZE = 300
SETTINGS, CELL_INFO, DEVICE_INFO = 0x01, 0x02, 0x03
#: Frame type -> the name used in logs and in ``gateway jk_pb decode``'s ``record`` key.
KINDS = {SETTINGS: "settings", CELL_INFO: "cell_info", DEVICE_INFO: "device_info"}


class JkPbFrameError(FrameError):
    """A JK record could not be framed or decoded; ``reason`` is a short machine-readable word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    """One complete record whose header, frame type and sum hold."""

    frame_type: int
    counter: int
    raw: bytes

    @property
    def kind(self) -> str:
        """``settings``, ``cell_info`` or ``device_info``."""
        return KINDS[self.frame_type]


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The 8-bit sum JK puts at byte 299 (over bytes 0-298)."""
    return sum(data) & 0xFF


def problem(raw: bytes | bytearray) -> tuple[str, str] | None:
    """Why ``raw`` (exactly 300 bytes from a header) is no record: (reason, detail), or ``None``."""
    if raw[4] not in KINDS:
        return (
            "frame_type",
            f"unknown frame type 0x{raw[4]:02X} (known: 01 settings, 02 cell info, 03 device info)",
        )
    computed = checksum(raw[: RECORD_SIZE - 1])
    if computed != raw[RECORD_SIZE - 1]:
        return (
            "checksum",
            f"sum mismatch: computed 0x{computed:02X}, record says 0x{raw[RECORD_SIZE - 1]:02X}",
        )
    return None


def parse_record(raw: bytes) -> Record:
    """Exactly one record. :raises JkPbFrameError: with the reason it is refused."""
    if len(raw) < len(HEADER) or raw[: len(HEADER)] != HEADER:
        raise JkPbFrameError(
            "header", f"does not start with 55 AA EB 90 (starts with {raw[:4].hex(' ').upper()})"
        )
    if len(raw) != RECORD_SIZE:
        raise JkPbFrameError("length", f"{len(raw)} bytes; a record is exactly {RECORD_SIZE}")
    why = problem(raw)
    if why is not None:
        raise JkPbFrameError(*why)
    return Record(raw[4], raw[5], bytes(raw))


def seal(frame_type: int, body: bytes | bytearray, counter: int = 0) -> bytes:
    """A valid record: header, ``frame_type``, ``counter``, then ``body`` (bytes 6-298), and the sum.

    ``body`` may be shorter than 293 bytes (zero-padded). :raises ValueError: it is longer.
    """
    if len(body) > RECORD_SIZE - 7:
        raise ValueError(f"record body of {len(body)} bytes; at most {RECORD_SIZE - 7}")
    head = HEADER + bytes((frame_type, counter & 0xFF)) + bytes(body) + bytes(RECORD_SIZE - 7 - len(body))
    return head + bytes((checksum(head),))
