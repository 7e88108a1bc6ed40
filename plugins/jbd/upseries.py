"""Recognise JBD "UP" series (UP16S…) traffic, a different, Modbus-like protocol this plugin does not speak.

Pure. A UP frame is ``addr fc start(2) end(2) len(2) data[len] crc16`` with a Modbus CRC-16 sent low
byte first; function ``0x78`` reads, ``0x79`` writes, ``0x45`` reads one pack's status (as captured
from a JBD-UP16S020). Finding one lets the source say "UP16S: not supported" instead of "garbage".
"""

from __future__ import annotations

from dataclasses import dataclass

FUNCTIONS = (0x45, 0x78, 0x79)
HEADER = 8
MAX_DATA = 512


@dataclass(frozen=True, slots=True)
class UpFrame:
    """Where a UP-series frame was found and what its header says."""

    offset: int
    address: int
    function: int
    start_register: int
    data_length: int

    def describe(self) -> str:
        """One line naming the frame and why it is not decoded."""
        return (
            f"a JBD UP-series (UP16S) Modbus-like frame (address {self.address}, function "
            f"0x{self.function:02X}, register 0x{self.start_register:04X}): that protocol is not "
            "supported by the jbd plugin, which speaks the DD ... 77 protocol"
        )


def crc16_modbus(data: bytes | bytearray | memoryview) -> int:
    """The Modbus CRC-16 (poly 0xA001, init 0xFFFF) of ``data``."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def build_up_frame(address: int, function: int, start: int, end: int, data: bytes) -> bytes:
    """A UP-series frame (what such a BMS sends; used by the simulator's ``up16s`` fault)."""
    head = bytes((address, function)) + start.to_bytes(2, "big") + end.to_bytes(2, "big")
    body = head + len(data).to_bytes(2, "big") + data
    return body + crc16_modbus(body).to_bytes(2, "little")


def find_up_frame(buf: bytes | bytearray) -> UpFrame | None:
    """The first complete, CRC-valid UP-series frame in ``buf``, or None."""
    for offset in range(max(0, len(buf) - HEADER - 1)):
        if buf[offset + 1] not in FUNCTIONS or not 1 <= buf[offset] <= 247:
            continue
        length = int.from_bytes(buf[offset + 6 : offset + 8], "big")
        end = offset + HEADER + length
        if length > MAX_DATA or end + 2 > len(buf):
            continue
        if crc16_modbus(buf[offset:end]) == int.from_bytes(buf[end : end + 2], "little"):
            start = int.from_bytes(buf[offset + 2 : offset + 4], "big")
            return UpFrame(offset, buf[offset], buf[offset + 1], start, length)
    return None
