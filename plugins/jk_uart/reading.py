"""Map a decoded :class:`JkStatus` onto the core :class:`BatteryReading` and onto the CLI's JSON.

Pure. JK alarm bits become the shared :class:`Alarm` members (bit positions stay here); a cell reading
0 mV adds :attr:`Alarm.CELL_ZERO_VOLTAGE` and stays 0 in ``cell_voltages_v`` (the core's plausibility
check then refuses the reading, which is the safe outcome).
"""

from __future__ import annotations

from typing import Any

from gateway_core.model import Alarm, BatteryReading

from .decode import JkStatus

#: 0x8B alarm name -> core alarm. The two reserved bits are reported by name only.
ALARM_MAP: dict[str, Alarm] = {
    "low_capacity": Alarm.LOW_CAPACITY,
    "mosfet_overtemperature": Alarm.MOSFET_OVERTEMPERATURE,
    "pack_overvoltage": Alarm.PACK_OVERVOLTAGE,
    "pack_undervoltage": Alarm.PACK_UNDERVOLTAGE,
    "battery_overtemperature": Alarm.BATTERY_OVERTEMPERATURE,
    "charge_overcurrent": Alarm.CHARGE_OVERCURRENT,
    "discharge_overcurrent": Alarm.DISCHARGE_OVERCURRENT,
    "cell_imbalance": Alarm.CELL_IMBALANCE,
    "box_overtemperature": Alarm.BOX_OVERTEMPERATURE,
    "battery_undertemperature": Alarm.BATTERY_UNDERTEMPERATURE,
    "cell_overvoltage": Alarm.CELL_OVERVOLTAGE,
    "cell_undervoltage": Alarm.CELL_UNDERVOLTAGE,
    "fault_309_a": Alarm.BMS_INTERNAL,
    "fault_309_b": Alarm.BMS_INTERNAL,
}


def core_alarms(status: JkStatus) -> frozenset[Alarm]:
    """The core alarms ``status`` raises (0x8B bits, plus a 0 mV cell)."""
    alarms = {ALARM_MAP[name] for name in status.alarms if name in ALARM_MAP}
    if status.zero_voltage_cells:
        alarms.add(Alarm.CELL_ZERO_VOLTAGE)
    return frozenset(alarms)


def is_booting(status: JkStatus) -> bool:
    """True for the SOC 0 % / 0 cycles a JK reports for ~16 s after power-up (not a real reading)."""
    return status.soc_pct == 0 and not status.cycle_count


def to_reading(
    status: JkStatus, source_id: str, taken_at_s: float, *, invert_current: bool = False
) -> BatteryReading:
    """The core reading of ``status``, stamped ``taken_at_s`` (the engine clock at reply time)."""
    current = -status.current_a if invert_current else status.current_a
    return BatteryReading(
        source_id=source_id,
        taken_at_s=taken_at_s,
        voltage_v=status.voltage_v,
        current_a=current + 0.0,
        soc_pct=float(status.soc_pct),
        cell_voltages_v=status.cell_voltages_v,
        temperatures_c=(status.t1_temperature_c, status.t2_temperature_c),
        bms_temperature_c=status.mosfet_temperature_c,
        alarms=core_alarms(status),
        charge_enabled=status.charge_mosfet_on,
        discharge_enabled=status.discharge_mosfet_on,
        bms_charge_current_limit_a=None if status.charge_ocp_a is None else float(status.charge_ocp_a),
        bms_discharge_current_limit_a=None
        if status.discharge_ocp_a is None
        else float(status.discharge_ocp_a),
        cycle_count=status.cycle_count,
        capacity_ah=None if status.capacity_ah is None else float(status.capacity_ah),
    )


def to_json(status: JkStatus, *, invert_current: bool = False) -> dict[str, Any]:
    """The decoded reply as a JSON-ready dict (the documented keys of ``gateway jk_uart decode``)."""
    return {
        "cell_count": status.cell_count,
        "cell_voltages_v": list(status.cell_voltages_v),
        "zero_voltage_cells": list(status.zero_voltage_cells),
        "voltage_v": status.voltage_v,
        "current_a": (-status.current_a if invert_current else status.current_a) + 0.0,
        "soc_pct": status.soc_pct,
        "temperatures_c": {
            "mosfet": status.mosfet_temperature_c,
            "t1": status.t1_temperature_c,
            "t2": status.t2_temperature_c,
        },
        "cycle_count": status.cycle_count,
        "capacity_ah": status.capacity_ah,
        "actual_capacity_ah": status.actual_capacity_ah,
        "total_cycle_capacity_ah": status.total_cycle_capacity_ah,
        "charge_enabled": status.charge_mosfet_on,
        "discharge_enabled": status.discharge_mosfet_on,
        "balancing": status.balancing,
        "alarms": list(status.alarms),
        "alarm_word": status.alarm_word,
        "status_word": status.status_word,
        "protection": {
            "cell_ovp_v": status.cell_ovp_v,
            "cell_ovp_recovery_v": status.cell_ovp_recovery_v,
            "cell_uvp_v": status.cell_uvp_v,
            "cell_uvp_recovery_v": status.cell_uvp_recovery_v,
            "pack_ovp_v": status.pack_ovp_v,
            "pack_uvp_v": status.pack_uvp_v,
            "cell_difference_v": status.cell_difference_protection_v,
            "charge_overcurrent_a": status.charge_ocp_a,
            "discharge_overcurrent_a": status.discharge_ocp_a,
        },
        "software_version": status.software_version,
        "serial_number": status.serial_number,
        "device_id": status.device_id,
        "production_date": status.production_date,
        "protocol_version": status.protocol_version,
        "current_encoding": status.current_encoding,
    }
