"""Decode the data of JBD replies: 0x03 basic info, 0x04 cell voltages, 0x05 hardware name.

Pure. Offsets count from the first data byte; every multi-byte value is big-endian. A reply whose
framing and checksum are valid but whose content cannot be (too short for its fields, SOC above
100 %, more NTCs than bytes, an odd cell block) raises
:class:`~gateway_core.errors.ImplausibleReply`; a refused reply (status 0x80) raises
:class:`~jbd.protocol.JbdFrameError` with reason ``status``, never zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.errors import ImplausibleReply

from .protocol import Frame, JbdFrameError, register_name

BASIC_FIXED = 23  # bytes before the first NTC
MAX_CELLS = 32  # the balance words hold 32 bits
KELVIN_OFFSET = 2731  # NTCs are in 0.1 K; 273.1 K = 0 °C, as JBD's own tools use

#: Protection-status bits (bit 0 = LSB) and their names; 13..15 are unassigned.
PROTECTION_NAMES = (
    "cell_overvoltage", "cell_undervoltage", "pack_overvoltage", "pack_undervoltage",
    "charge_overtemperature", "charge_undertemperature", "discharge_overtemperature",
    "discharge_undertemperature", "charge_overcurrent", "discharge_overcurrent", "short_circuit",
    "front_end_ic_error", "mosfet_software_lock", "bit_13", "bit_14", "bit_15",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BasicInfo:
    """Register 0x03, in V, A (+ = charging), Ah, % and °C."""

    voltage_v: float
    current_a: float
    remaining_capacity_ah: float
    nominal_capacity_ah: float
    cycle_count: int
    manufacture_date: str | None
    balance_bits: int  # bit 0 = cell 1 ... bit 31 = cell 32
    protection_bits: int
    software_version: str
    soc_pct: int
    fet_bits: int
    cell_count: int
    temperatures_c: tuple[float, ...]
    extension: bytes = b""  # bytes after the NTCs (some firmwares: len 0x22 or 0x26)

    @property
    def charge_mosfet_on(self) -> bool:
        """FET bit 0: the charge MOSFET conducts."""
        return bool(self.fet_bits & 0x01)

    @property
    def discharge_mosfet_on(self) -> bool:
        """FET bit 1: the discharge MOSFET conducts."""
        return bool(self.fet_bits & 0x02)

    @property
    def balancing_cells(self) -> tuple[int, ...]:
        """1-based numbers of the cells being balanced."""
        return tuple(bit + 1 for bit in range(32) if self.balance_bits >> bit & 1)

    @property
    def protections(self) -> tuple[str, ...]:
        """Names of the protection bits that are set."""
        return tuple(name for bit, name in enumerate(PROTECTION_NAMES) if self.protection_bits >> bit & 1)


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def _date(value: int) -> str | None:
    year, month, day = 2000 + (value >> 9), (value >> 5) & 0x0F, value & 0x1F
    return f"{year:04d}-{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None


def ntc_celsius(raw: int) -> float:
    """One NTC value (0.1 K) in °C, rounded to 0.1."""
    return round((raw - KELVIN_OFFSET) / 10, 1)


def check_reply(frame: Frame, register: int) -> None:
    """Refuse ``frame`` unless it is an OK reply to ``register``. :raises JbdFrameError:."""
    if frame.request:
        raise JbdFrameError("echo", f"a request for register {register_name(frame.register)}, not a reply")
    if frame.register != register:
        raise JbdFrameError(
            "register",
            f"a reply to register {register_name(frame.register)}, not to {register_name(register)}",
        )
    if not frame.ok:
        refused = " (refused)" if frame.status == 0x80 else ""
        raise JbdFrameError(
            "status",
            f"the BMS answered register {register_name(register)} with status 0x{frame.status:02X}"
            f"{refused} and {len(frame.data)} data bytes",
        )


def decode_basic(data: bytes) -> BasicInfo:
    """Register 0x03's data. :raises ImplausibleReply: impossible content."""
    if len(data) < BASIC_FIXED:
        raise ImplausibleReply(f"basic info carries {len(data)} bytes; its fields need {BASIC_FIXED}")
    ntcs = data[22]
    if BASIC_FIXED + 2 * ntcs > len(data):
        raise ImplausibleReply(
            f"basic info says {ntcs} NTCs, but its {len(data)} bytes hold at most {(len(data) - 23) // 2}"
        )
    soc, cells = data[19], data[21]
    if soc > 100:
        raise ImplausibleReply(f"basic info reports SOC {soc} %")
    if not 1 <= cells <= MAX_CELLS:
        raise ImplausibleReply(f"basic info reports {cells} cells (1 to {MAX_CELLS} possible)")
    version = data[18]
    return BasicInfo(
        voltage_v=_u16(data, 0) / 100,
        current_a=int.from_bytes(data[2:4], "big", signed=True) / 100,
        remaining_capacity_ah=_u16(data, 4) / 100,
        nominal_capacity_ah=_u16(data, 6) / 100,
        cycle_count=_u16(data, 8),
        manufacture_date=_date(_u16(data, 10)),
        balance_bits=_u16(data, 12) | _u16(data, 14) << 16,
        protection_bits=_u16(data, 16),
        software_version=f"{version >> 4}.{version & 0x0F}",
        soc_pct=soc,
        fet_bits=data[20],
        cell_count=cells,
        temperatures_c=tuple(ntc_celsius(_u16(data, 23 + 2 * i)) for i in range(ntcs)),
        extension=bytes(data[BASIC_FIXED + 2 * ntcs :]),
    )


def decode_cells(data: bytes) -> tuple[float, ...]:
    """Register 0x04's data: one u16 mV per cell, in V. :raises ImplausibleReply: odd or empty."""
    if not data or len(data) % 2:
        raise ImplausibleReply(f"cell voltages carry {len(data)} bytes; 2 per cell expected")
    if len(data) // 2 > MAX_CELLS:
        raise ImplausibleReply(f"cell voltages for {len(data) // 2} cells (at most {MAX_CELLS})")
    return tuple(_u16(data, i) / 1000 for i in range(0, len(data), 2))


def decode_name(data: bytes) -> str:
    """Register 0x05's data: the ASCII model name (unprintable bytes shown as ``?``)."""
    text = data.rstrip(b"\x00").decode("ascii", errors="replace")
    return "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in text).strip()


def check_cells(basic: BasicInfo, cells: tuple[float, ...]) -> None:
    """Refuse a cell reply that contradicts the basic info's cell count. :raises ImplausibleReply:."""
    if len(cells) != basic.cell_count:
        raise ImplausibleReply(f"basic info reports {basic.cell_count} cells but 0x04 carries {len(cells)}")
