"""Pure: which 0x359 bits and which forbidden currents each BMS alarm and gateway fault means.

Follows PROTOCOLS 2.5: a protection bit in bytes 0-1 with its mirror in the alarm bytes 2-3; the
"Limit -> 0" column becomes the two BLOCKS_* sets the sink enforces even if a policy forgot.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway_core.model import Alarm, Fault

#: Each BMS alarm -> the 0x359 protection bit and its alarm-byte mirror (PROTOCOLS 2.5).
ALARM_SIGNALS: Mapping[Alarm, tuple[str, ...]] = {
    Alarm.CELL_OVERVOLTAGE: ("protection_over_voltage", "alarm_high_voltage"),
    Alarm.PACK_OVERVOLTAGE: ("protection_over_voltage", "alarm_high_voltage"),
    Alarm.CELL_UNDERVOLTAGE: ("protection_under_voltage", "alarm_low_voltage"),
    Alarm.PACK_UNDERVOLTAGE: ("protection_under_voltage", "alarm_low_voltage"),
    Alarm.BATTERY_OVERTEMPERATURE: ("protection_over_temperature", "alarm_high_temperature"),
    Alarm.MOSFET_OVERTEMPERATURE: ("protection_over_temperature", "alarm_high_temperature"),
    Alarm.BOX_OVERTEMPERATURE: ("protection_over_temperature", "alarm_high_temperature"),
    Alarm.BATTERY_UNDERTEMPERATURE: ("protection_under_temperature", "alarm_low_temperature"),
    Alarm.DISCHARGE_OVERCURRENT: ("protection_discharge_over_current", "alarm_discharge_high_current"),
    Alarm.CHARGE_OVERCURRENT: ("protection_charge_over_current", "alarm_charge_high_current"),
    Alarm.LOW_CAPACITY: (),
}
#: BMS alarms reported as the 0x359 "system error" bit (byte 1, bit 3 or 7 as configured).
SYSTEM_ERROR_ALARMS = frozenset({Alarm.CELL_IMBALANCE, Alarm.BMS_INTERNAL, Alarm.CELL_ZERO_VOLTAGE})
#: Alarms under which the sink never sends a charge current, whatever the policy said.
BLOCKS_CHARGE = frozenset(
    {
        Alarm.CELL_OVERVOLTAGE,
        Alarm.PACK_OVERVOLTAGE,
        Alarm.BATTERY_OVERTEMPERATURE,
        Alarm.MOSFET_OVERTEMPERATURE,
        Alarm.BOX_OVERTEMPERATURE,
        Alarm.BATTERY_UNDERTEMPERATURE,
        Alarm.CHARGE_OVERCURRENT,
        *SYSTEM_ERROR_ALARMS,
    }
)
#: Alarms under which the sink never sends a discharge current.
BLOCKS_DISCHARGE = frozenset(
    {
        Alarm.CELL_UNDERVOLTAGE,
        Alarm.PACK_UNDERVOLTAGE,
        Alarm.BATTERY_OVERTEMPERATURE,
        Alarm.MOSFET_OVERTEMPERATURE,
        Alarm.BOX_OVERTEMPERATURE,
        Alarm.DISCHARGE_OVERCURRENT,
        *SYSTEM_ERROR_ALARMS,
    }
)
#: Gateway faults reported as "internal communication fail" (0x359 byte 3 bit 3).
COMMUNICATION_FAULTS = frozenset({Fault.NO_READING, Fault.STALE_READING, Fault.TIMEOUT})
#: Gateway faults reported as "system error".
SYSTEM_FAULTS = frozenset({Fault.IMPLAUSIBLE_READING, Fault.POLICY_ERROR})

#: 0x35A alarm field (2-bit, bytes 0-3) -> the BMS alarms that raise it (SMA / MG Master LV order).
ALARM_FIELDS: Mapping[str, frozenset[Alarm]] = {
    "general_alarm": frozenset(),  # raised with any field below, and on a gateway fault
    "high_voltage_alarm": frozenset({Alarm.CELL_OVERVOLTAGE, Alarm.PACK_OVERVOLTAGE}),
    "low_voltage_alarm": frozenset({Alarm.CELL_UNDERVOLTAGE, Alarm.PACK_UNDERVOLTAGE}),
    "high_temperature_alarm": frozenset(
        {Alarm.BATTERY_OVERTEMPERATURE, Alarm.MOSFET_OVERTEMPERATURE, Alarm.BOX_OVERTEMPERATURE}
    ),
    "low_temperature_alarm": frozenset({Alarm.BATTERY_UNDERTEMPERATURE}),
    "high_discharge_current_alarm": frozenset({Alarm.DISCHARGE_OVERCURRENT}),
    "high_charge_current_alarm": frozenset({Alarm.CHARGE_OVERCURRENT}),
    "bms_internal_alarm": frozenset({Alarm.BMS_INTERNAL, Alarm.CELL_ZERO_VOLTAGE}),
    "cell_imbalance_alarm": frozenset({Alarm.CELL_IMBALANCE}),
}
#: 0x35A warning fields (bytes 4-7) the gateway reports; the BMS alarms that raise each.
WARNING_FIELDS: Mapping[str, frozenset[Alarm]] = {
    "general_warning": frozenset({Alarm.LOW_CAPACITY}),
    **{name.replace("_alarm", "_warning"): frozenset() for name in ALARM_FIELDS if name != "general_alarm"},
}
#: 2-bit states of 0x35A: 0 not reported, 1 raised, 2 ok (SMA: "arrives" / "leaves").
FIELD_RAISED = 1
FIELD_OK = 2
