"""Decode JK settings (frame type 0x01) and device-info (0x03) records into frozen dataclasses (pure).

Settings are u32 little-endian fields (mV, mA, 0.1 °C); the offsets are the same for the 24S and
32S layouts. Device info is NUL-padded ASCII. Passcodes in the device info are never decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway_core.errors import ImplausibleReply

from .records import DEVICE_INFO, SETTINGS, Record

MAX_CELLS = 32
MAX_CELL_MV = 5000


@dataclass(frozen=True, slots=True)
class Settings:
    """The pack's configured protections, in SI units."""

    smart_sleep_v: float
    cell_uvp_v: float
    cell_uvp_recovery_v: float
    cell_ovp_v: float
    cell_ovp_recovery_v: float
    balance_trigger_v: float
    cell_soc100_v: float
    cell_soc0_v: float
    cell_request_charge_v: float
    cell_request_float_v: float
    power_off_v: float
    max_charge_current_a: float
    max_discharge_current_a: float
    max_balance_current_a: float
    charge_overtemperature_c: float
    charge_undertemperature_c: float
    discharge_overtemperature_c: float
    mosfet_overtemperature_c: float
    cell_count: int
    charge_switch: bool
    discharge_switch: bool
    balancer_switch: bool
    capacity_ah: float
    balance_start_v: float
    address: int


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Who the pack is."""

    model: str
    hardware_version: str
    software_version: str
    uptime_s: int
    power_on_count: int
    device_name: str
    manufacturing_date: str
    serial_number: str


def _u32(raw: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", raw, at)[0])


def _s32(raw: bytes, at: int) -> int:
    return int(struct.unpack_from("<i", raw, at)[0])


def decode_settings(record: Record) -> Settings:
    """Decode a settings ``record``. :raises ImplausibleReply: values no pack is configured with."""
    if record.frame_type != SETTINGS:
        raise ValueError(f"a {record.kind} record is no settings record")
    raw = record.raw

    def volts(at: int) -> float:
        return _u32(raw, at) / 1000

    settings = Settings(
        smart_sleep_v=volts(6), cell_uvp_v=volts(10), cell_uvp_recovery_v=volts(14), cell_ovp_v=volts(18),
        cell_ovp_recovery_v=volts(22), balance_trigger_v=volts(26), cell_soc100_v=volts(30),
        cell_soc0_v=volts(34), cell_request_charge_v=volts(38), cell_request_float_v=volts(42),
        power_off_v=volts(46), max_charge_current_a=_u32(raw, 50) / 1000,
        max_discharge_current_a=_u32(raw, 62) / 1000, max_balance_current_a=_u32(raw, 78) / 1000,
        charge_overtemperature_c=_s32(raw, 82) / 10, charge_undertemperature_c=_s32(raw, 98) / 10,
        discharge_overtemperature_c=_s32(raw, 90) / 10, mosfet_overtemperature_c=_s32(raw, 106) / 10,
        cell_count=_u32(raw, 114), charge_switch=_u32(raw, 118) != 0, discharge_switch=_u32(raw, 122) != 0,
        balancer_switch=_u32(raw, 126) != 0, capacity_ah=_u32(raw, 130) / 1000, balance_start_v=volts(138),
        address=_u32(raw, 270),
    )  # fmt: skip
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if not 1 <= s.cell_count <= MAX_CELLS:
        raise ImplausibleReply(f"settings: cell count {s.cell_count} is outside 1..{MAX_CELLS}")
    for name in ("cell_uvp_v", "cell_ovp_v"):
        value = getattr(s, name)
        if not 0.5 <= value <= MAX_CELL_MV / 1000:
            raise ImplausibleReply(f"settings: {name} {value:g} V is no cell voltage")
    if s.cell_uvp_v >= s.cell_ovp_v:
        raise ImplausibleReply(f"settings: cell UVP {s.cell_uvp_v:g} V is not below OVP {s.cell_ovp_v:g} V")
    if s.max_charge_current_a > 5000 or s.max_discharge_current_a > 5000:
        raise ImplausibleReply(
            f"settings: current limits {s.max_charge_current_a:g} A / {s.max_discharge_current_a:g} A "
            "are beyond 5000 A"
        )
    if s.address > 0xFF:
        raise ImplausibleReply(f"settings: device address {s.address} is not a bus address")


def _text(raw: bytes, start: int, size: int) -> str:
    field = raw[start : start + size].split(b"\x00", 1)[0]
    return field.decode("ascii", errors="replace").strip()


def decode_device_info(record: Record) -> DeviceInfo:
    """Decode a device-info ``record``. :raises ImplausibleReply: the model is not text."""
    if record.frame_type != DEVICE_INFO:
        raise ValueError(f"a {record.kind} record is no device-info record")
    raw = record.raw
    info = DeviceInfo(
        model=_text(raw, 6, 16),
        hardware_version=_text(raw, 22, 8),
        software_version=_text(raw, 30, 8),
        uptime_s=_u32(raw, 38),
        power_on_count=_u32(raw, 42),
        device_name=_text(raw, 46, 16),
        manufacturing_date=_text(raw, 78, 8),
        serial_number=_text(raw, 86, 11),
    )
    if not info.model or not info.model.isprintable() or "\ufffd" in info.model:
        raise ImplausibleReply(f"device info: model {info.model!r} is not a name")
    return info
