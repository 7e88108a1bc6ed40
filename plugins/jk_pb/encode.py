"""Build JK02 records from the decoder's dataclasses: the inverse of the decoders (pure).

Used by the simulator, and by tests that check the decoder against records built here. Every field
the decoders read is written; what they ignore stays 0 (the record's sum is computed last).
"""

from __future__ import annotations

import struct

from .cellinfo import ABSENT_RAW, CellInfo
from .layout import JK02, PRESENCE_BITS
from .records import CELL_INFO, DEVICE_INFO, SETTINGS, seal
from .settings import DeviceInfo, Settings


def _put(buf: bytearray, fmt: str, at: int, value: int) -> None:
    struct.pack_into(fmt, buf, at, value)


def _temperature(value: float | None) -> int:
    return ABSENT_RAW if value is None else round(value * 10)


def encode_cell_info(info: CellInfo) -> bytes:
    """A valid cell-info record in ``info.layout`` holding ``info``'s values."""
    at = JK02[info.layout]
    buf = bytearray(300)
    for index, volts in enumerate(info.cell_voltages_v):
        _put(buf, "<H", 6 + 2 * index, round(volts * 1000))
        _put(buf, "<H", at.wire_resistance + 2 * index, round(info.wire_resistances_ohm[index] * 1000))
    _put(buf, "<I", at.cell_mask, info.cell_mask)
    _put(buf, "<H", at.average_cell, round(info.average_cell_v * 1000))
    _put(buf, "<H", at.delta_cell, round(info.delta_cell_v * 1000))
    buf[at.max_cell_index] = info.max_cell_number - 1
    buf[at.min_cell_index] = info.min_cell_number - 1
    _put(buf, "<h", at.mosfet_temperature, _temperature(info.mosfet_temperature_c))
    _put(buf, "<I", at.wire_alarm_mask, info.wire_alarm_mask)
    _put(buf, "<I", at.voltage, round(info.voltage_v * 1000))
    _put(buf, "<I", at.voltage + 4, round(abs(info.voltage_v * info.current_a) * 1000))  # power, unsigned
    _put(buf, "<i", at.current, round(info.current_a * 1000))
    _put(buf, "<h", at.t1, _temperature(info.t1_temperature_c))
    _put(buf, "<h", at.t2, _temperature(info.t2_temperature_c))
    _put(buf, "<I" if at.alarm_width == 4 else "<H", at.alarm_bits, info.alarm_bits)
    _put(buf, "<h", at.balance_current, round(info.balance_current_a * 1000))
    buf[at.balancing_action] = info.balancing_action
    buf[at.soc] = info.soc_pct
    _put(buf, "<I", at.remaining_capacity, round(info.remaining_capacity_ah * 1000))
    _put(buf, "<I", at.full_capacity, round(info.capacity_ah * 1000))
    _put(buf, "<I", at.cycles, info.cycle_count)
    _put(buf, "<I", at.cycle_capacity, round(info.cycle_capacity_ah * 1000))
    buf[at.soh] = info.soh_pct
    _put(buf, "<I", at.runtime, info.runtime_s)
    buf[at.charge_mosfet] = int(info.charge_enabled)
    buf[at.discharge_mosfet] = int(info.discharge_enabled)
    if at.precharge_mosfet is not None:
        buf[at.precharge_mosfet] = int(bool(info.precharge_enabled))
    if at.temperature_presence is not None and at.heating is not None and at.mosfet2_temperature is not None:
        buf[at.temperature_presence] = (
            _presence(info) if info.temperature_presence is None else info.temperature_presence
        )
        buf[at.heating] = int(bool(info.heating))
        _put(buf, "<h", at.mosfet2_temperature, _temperature(info.mosfet2_temperature_c))
        for offset, value in zip(at.extra_temperatures, info.extra_temperatures_c, strict=False):
            _put(buf, "<h", offset, _temperature(value))
    return seal(CELL_INFO, buf[6:299], info.counter)


def _presence(info: CellInfo) -> int:
    probes = {
        "mosfet": info.mosfet_temperature_c, "t1": info.t1_temperature_c, "t2": info.t2_temperature_c,
        "mosfet2": info.mosfet2_temperature_c,
        "t3": info.extra_temperatures_c[0] if info.extra_temperatures_c else None,
        "t4": info.extra_temperatures_c[1] if len(info.extra_temperatures_c) > 1 else None,
    }  # fmt: skip
    return sum(1 << PRESENCE_BITS[name] for name, value in probes.items() if value is not None)


def encode_settings(s: Settings) -> bytes:
    """A valid settings record holding ``s``."""
    buf = bytearray(300)
    millivolts = {
        6: s.smart_sleep_v, 10: s.cell_uvp_v, 14: s.cell_uvp_recovery_v, 18: s.cell_ovp_v,
        22: s.cell_ovp_recovery_v, 26: s.balance_trigger_v, 30: s.cell_soc100_v, 34: s.cell_soc0_v,
        38: s.cell_request_charge_v, 42: s.cell_request_float_v, 46: s.power_off_v,
        50: s.max_charge_current_a, 62: s.max_discharge_current_a, 78: s.max_balance_current_a,
        130: s.capacity_ah, 138: s.balance_start_v,
    }  # fmt: skip
    for offset, value in millivolts.items():
        _put(buf, "<I", offset, round(value * 1000))
    tenths = {
        82: s.charge_overtemperature_c, 90: s.discharge_overtemperature_c,
        98: s.charge_undertemperature_c, 106: s.mosfet_overtemperature_c,
    }  # fmt: skip
    for offset, celsius in tenths.items():
        _put(buf, "<i", offset, round(celsius * 10))
    _put(buf, "<I", 114, s.cell_count)
    for offset, on in ((118, s.charge_switch), (122, s.discharge_switch), (126, s.balancer_switch)):
        _put(buf, "<I", offset, int(on))
    _put(buf, "<I", 270, s.address)
    return seal(SETTINGS, buf[6:299])


def _ascii(buf: bytearray, at: int, size: int, text: str) -> None:
    data = text.encode("ascii")[:size]
    buf[at : at + len(data)] = data


def encode_device_info(d: DeviceInfo) -> bytes:
    """A valid device-info record holding ``d``."""
    buf = bytearray(300)
    _ascii(buf, 6, 16, d.model)
    _ascii(buf, 22, 8, d.hardware_version)
    _ascii(buf, 30, 8, d.software_version)
    _put(buf, "<I", 38, d.uptime_s)
    _put(buf, "<I", 42, d.power_on_count)
    _ascii(buf, 46, 16, d.device_name)
    _ascii(buf, 78, 8, d.manufacturing_date)
    _ascii(buf, 86, 11, d.serial_number)
    return seal(DEVICE_INFO, buf[6:299])
