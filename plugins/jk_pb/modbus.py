"""The Modbus RTU function-0x10 pieces of a JK-PB poll: the trigger request and its ACK (pure).

The gateway (bus master) writes one register with value 0: ``addr 10 16 20 00 01 02 00 00 CRC``
asks for cell info, ``16 1E`` for settings, ``16 1C`` for device info. The pack answers with the bare
record, then the 8-byte ACK ``addr 10 16 20 00 01 CRC``. The CRC is Modbus CRC-16 (poly 0xA001,
init 0xFFFF), low byte first. The record carries no address; the ACK does.
"""

from __future__ import annotations

from .records import CELL_INFO, DEVICE_INFO, SETTINGS

FUNCTION = 0x10
REQUEST_SIZE = 11
ACK_SIZE = 8
#: Frame type -> the register whose write triggers that record.
REGISTERS = {CELL_INFO: 0x1620, SETTINGS: 0x161E, DEVICE_INFO: 0x161C}
#: Register -> frame type it triggers.
FRAME_TYPES = {register: frame_type for frame_type, register in REGISTERS.items()}


def crc16(data: bytes | bytearray | memoryview) -> int:
    """Modbus CRC-16 of ``data``."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(data: bytes) -> bytes:
    """``data`` followed by its CRC, low byte first."""
    return data + crc16(data).to_bytes(2, "little")


def crc_ok(piece: bytes | bytearray) -> bool:
    """True when the last two bytes of ``piece`` are the CRC of the others."""
    return crc16(piece[:-2]) == int.from_bytes(piece[-2:], "little")


def build_request(address: int, frame_type: int) -> bytes:
    """The 11-byte trigger that asks pack ``address`` for a record of ``frame_type``."""
    if not 0 <= address <= 0xFF:
        raise ValueError(f"address {address} is not a byte")
    register = REGISTERS[frame_type]
    return with_crc(bytes((address, FUNCTION)) + register.to_bytes(2, "big") + bytes((0, 1, 2, 0, 0)))


def build_ack(address: int, register: int) -> bytes:
    """The 8-byte ACK pack ``address`` sends after the record the write of ``register`` triggered."""
    return with_crc(bytes((address, FUNCTION)) + register.to_bytes(2, "big") + bytes((0, 1)))
