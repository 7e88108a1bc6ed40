"""The inverse of :mod:`jbd.decode`: data bytes for 0x03, 0x04 and 0x05 replies (the simulator's side).

Pure. Values are rounded to the wire's resolution (10 mV, 10 mA, 10 mAh, 1 mV per cell, 0.1 K).
"""

from __future__ import annotations

from .decode import KELVIN_OFFSET, BasicInfo


def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} does not fit an unsigned 16-bit field")
    return value.to_bytes(2, "big")


def _date_word(date: str | None) -> int:
    if date is None:
        return 0
    year, month, day = (int(part) for part in date.split("-"))
    return (year - 2000) << 9 | month << 5 | day


def _version_byte(version: str) -> int:
    major, minor = (int(part) for part in version.split("."))
    return major << 4 | minor


def encode_basic(info: BasicInfo) -> bytes:
    """Register 0x03's data for ``info`` (with its NTCs and extension bytes)."""
    data = (
        _u16(round(info.voltage_v * 100))
        + round(info.current_a * 100).to_bytes(2, "big", signed=True)
        + _u16(round(info.remaining_capacity_ah * 100))
        + _u16(round(info.nominal_capacity_ah * 100))
        + _u16(info.cycle_count)
        + _u16(_date_word(info.manufacture_date))
        + _u16(info.balance_bits & 0xFFFF)
        + _u16(info.balance_bits >> 16)
        + _u16(info.protection_bits)
        + bytes((_version_byte(info.software_version), info.soc_pct, info.fet_bits, info.cell_count))
        + bytes((len(info.temperatures_c),))
    )
    for celsius in info.temperatures_c:
        data += _u16(round(celsius * 10) + KELVIN_OFFSET)
    return data + info.extension


def encode_cells(cells_v: tuple[float, ...]) -> bytes:
    """Register 0x04's data: one u16 mV per cell."""
    return b"".join(_u16(round(volts * 1000)) for volts in cells_v)


def encode_name(name: str) -> bytes:
    """Register 0x05's data: the ASCII model name."""
    return name.encode("ascii")
