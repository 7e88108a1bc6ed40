"""Map decoded JK records onto the core :class:`BatteryReading`, and onto the decode/read JSON (pure).

JK alarm bits become core :class:`Alarm` members where they mean the same thing; the others stay
vendor names in ``bms_alarms``. An enabled cell reading 0 mV adds :attr:`Alarm.CELL_ZERO_VOLTAGE`
and stays 0 in the cells (the core's plausibility check then refuses the reading: the safe outcome).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway_core.model import Alarm, BatteryReading

from .cellinfo import CellInfo
from .jk04 import Jk04CellInfo
from .settings import DeviceInfo, Settings

#: JK alarm name -> core alarm. Faults of the BMS itself (sensor, MOSFET, coprocessor) stop both ways.
ALARM_MAP: dict[str, Alarm] = {
    "mosfet_overtemperature": Alarm.MOSFET_OVERTEMPERATURE,
    "cell_count_mismatch": Alarm.BMS_INTERNAL,
    "current_sensor_anomaly": Alarm.BMS_INTERNAL,
    "cell_overvoltage": Alarm.CELL_OVERVOLTAGE,
    "pack_overvoltage": Alarm.PACK_OVERVOLTAGE,
    "charge_overcurrent": Alarm.CHARGE_OVERCURRENT,
    "charge_short_circuit": Alarm.CHARGE_OVERCURRENT,
    "charge_overtemperature": Alarm.BATTERY_OVERTEMPERATURE,
    "charge_undertemperature": Alarm.BATTERY_UNDERTEMPERATURE,
    "coprocessor_communication": Alarm.BMS_INTERNAL,
    "cell_undervoltage": Alarm.CELL_UNDERVOLTAGE,
    "pack_undervoltage": Alarm.PACK_UNDERVOLTAGE,
    "discharge_overcurrent": Alarm.DISCHARGE_OVERCURRENT,
    "discharge_short_circuit": Alarm.DISCHARGE_OVERCURRENT,
    "discharge_overtemperature": Alarm.BATTERY_OVERTEMPERATURE,
    "charge_mosfet_abnormal": Alarm.BMS_INTERNAL,
    "discharge_mosfet_abnormal": Alarm.BMS_INTERNAL,
    "battery_overtemperature": Alarm.BATTERY_OVERTEMPERATURE,
    "temperature_sensor_anomaly": Alarm.BMS_INTERNAL,
    "scp_release_failed": Alarm.BMS_INTERNAL,
    "discharge_ocp_2": Alarm.DISCHARGE_OVERCURRENT,
    "discharge_ocp_3": Alarm.DISCHARGE_OVERCURRENT,
    "discharge_undertemperature": Alarm.BATTERY_UNDERTEMPERATURE,
}


def core_alarms(info: CellInfo) -> frozenset[Alarm]:
    """The core alarms ``info`` raises (its alarm bits, plus a 0 mV cell)."""
    alarms = {ALARM_MAP[name] for name in info.alarms if name in ALARM_MAP}
    if info.zero_voltage_cells:
        alarms.add(Alarm.CELL_ZERO_VOLTAGE)
    return frozenset(alarms)


def to_reading(
    info: CellInfo, settings: Settings | None, source_id: str, taken_at_s: float
) -> BatteryReading:
    """The core reading of ``info`` (with the BMS's own current limits from ``settings``)."""
    return BatteryReading(
        source_id=source_id,
        taken_at_s=taken_at_s,
        voltage_v=info.voltage_v,
        current_a=info.current_a + 0.0,
        soc_pct=float(info.soc_pct),
        soh_pct=float(info.soh_pct),
        cell_voltages_v=info.cell_voltages_v,
        temperatures_c=info.battery_temperatures_c,
        bms_temperature_c=info.mosfet_temperature_c,
        alarms=core_alarms(info),
        charge_enabled=info.charge_enabled,
        discharge_enabled=info.discharge_enabled,
        bms_charge_current_limit_a=None if settings is None else settings.max_charge_current_a,
        bms_discharge_current_limit_a=None if settings is None else settings.max_discharge_current_a,
        cycle_count=info.cycle_count,
        capacity_ah=info.capacity_ah,
        remaining_capacity_ah=info.remaining_capacity_ah,
    )


def cell_info_json(info: CellInfo, settings: Settings | None = None) -> dict[str, Any]:
    """``gateway jk_pb decode`` JSON of a cell-info record: BatteryReading keys, then vendor extras."""
    data: dict[str, Any] = {
        "record": "cell_info",
        "voltage_v": info.voltage_v,
        "current_a": info.current_a + 0.0,
        "soc_pct": info.soc_pct,
        "soh_pct": info.soh_pct,
        "cell_voltages_v": list(info.cell_voltages_v),
        "temperatures_c": list(info.battery_temperatures_c),
        "bms_temperature_c": info.mosfet_temperature_c,
        "cycle_count": info.cycle_count,
        "capacity_ah": info.capacity_ah,
        "remaining_capacity_ah": info.remaining_capacity_ah,
        "charge_enabled": info.charge_enabled,
        "discharge_enabled": info.discharge_enabled,
        "alarms": sorted(alarm.value for alarm in core_alarms(info)),
    }
    if settings is not None:
        data["bms_charge_current_limit_a"] = settings.max_charge_current_a
        data["bms_discharge_current_limit_a"] = settings.max_discharge_current_a
    data.update(
        layout=info.layout,
        cell_count=info.cell_count,
        zero_voltage_cells=list(info.zero_voltage_cells),
        bms_alarms=list(info.alarms),
        alarm_bits=info.alarm_bits,
        t1_temperature_c=info.t1_temperature_c,
        t2_temperature_c=info.t2_temperature_c,
        extra_temperatures_c=list(info.extra_temperatures_c),
        mosfet2_temperature_c=info.mosfet2_temperature_c,
        temperature_presence=info.temperature_presence,
        average_cell_v=info.average_cell_v,
        delta_cell_v=info.delta_cell_v,
        max_cell_number=info.max_cell_number,
        min_cell_number=info.min_cell_number,
        wire_resistances_ohm=list(info.wire_resistances_ohm),
        wire_alarm_mask=info.wire_alarm_mask,
        balancing=info.balancing,
        balancing_action=info.balancing_action,
        balance_current_a=info.balance_current_a,
        precharge_enabled=info.precharge_enabled,
        heating=info.heating,
        cycle_capacity_ah=info.cycle_capacity_ah,
        runtime_s=info.runtime_s,
    )
    return data


def jk04_json(info: Jk04CellInfo) -> dict[str, Any]:
    """JSON of a JK04 cell-info record (no current, SOC or temperatures exist in it)."""
    return {
        "record": "cell_info",
        "layout": "jk04",
        "voltage_v": info.voltage_v,
        "cell_voltages_v": list(info.cell_voltages_v),
        "cell_count": info.cell_count,
        "wire_resistances_ohm": list(info.wire_resistances_ohm),
        "average_cell_v": info.average_cell_v,
        "delta_cell_v": info.delta_cell_v,
        "balancing": info.balancing,
        "balance_current_a": info.balance_current_a,
        "runtime_s": info.runtime_s,
    }


def settings_json(settings: Settings) -> dict[str, Any]:
    """JSON of a settings record: every field under its own name."""
    return {"record": "settings", **dataclasses.asdict(settings)}


def device_info_json(info: DeviceInfo) -> dict[str, Any]:
    """JSON of a device-info record (passcodes are never decoded)."""
    return {"record": "device_info", **dataclasses.asdict(info)}
