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
