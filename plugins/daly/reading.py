"""Map a :class:`DalyPoll` onto the core :class:`BatteryReading` and onto the CLI's JSON.

Pure. The current's sign follows the majority reading (raw above 30000 = discharging), flipped by
``invert_current``, and is checked against the charge/discharge state of 0x93: a current of at least
:data:`DISAGREEMENT_A` in the direction opposite to the state raises ImplausibleReply (the engine
then publishes stop limits at once), because it means the sign setting is wrong for this unit and
every current the inverter would be told could be backwards. A stationary state is never a
disagreement (the BMS only leaves it above its own current threshold).

0x98 failure bits become the shared :class:`Alarm` members (bit positions stay in
:mod:`daly.decode`), both warning levels alike, so the gateway never allows what the BMS warns
about. A cell reading 0 mV adds :attr:`Alarm.CELL_ZERO_VOLTAGE` and stays 0 (the core's plausibility
check then refuses the reading).
"""

from __future__ import annotations

from typing import Any

from gateway_core.errors import ImplausibleReply
from gateway_core.model import Alarm, BatteryReading

from .decode import DalyPoll

DISAGREEMENT_A = 1.0

#: 0x98 failure name prefix -> core alarm. Names absent here (SOC high, temperature difference,
#: RTC, vehicle communication, reserved bits) are reported by name only, by ``gateway daly read``.
ALARM_MAP: dict[str, Alarm] = {
    "cell_voltage_high": Alarm.CELL_OVERVOLTAGE,
    "cell_voltage_low": Alarm.CELL_UNDERVOLTAGE,
    "pack_voltage_high": Alarm.PACK_OVERVOLTAGE,
    "pack_voltage_low": Alarm.PACK_UNDERVOLTAGE,
    "charge_temperature_high": Alarm.BATTERY_OVERTEMPERATURE,
    "discharge_temperature_high": Alarm.BATTERY_OVERTEMPERATURE,
    "charge_temperature_low": Alarm.BATTERY_UNDERTEMPERATURE,
    "discharge_temperature_low": Alarm.BATTERY_UNDERTEMPERATURE,
    "charge_overcurrent": Alarm.CHARGE_OVERCURRENT,
    "discharge_overcurrent": Alarm.DISCHARGE_OVERCURRENT,
    "soc_low": Alarm.LOW_CAPACITY,
    "cell_voltage_difference": Alarm.CELL_IMBALANCE,
    "charge_mosfet_overtemperature": Alarm.MOSFET_OVERTEMPERATURE,
    "discharge_mosfet_overtemperature": Alarm.MOSFET_OVERTEMPERATURE,
    "charge_mosfet_sensor_fault": Alarm.BMS_INTERNAL,
    "discharge_mosfet_sensor_fault": Alarm.BMS_INTERNAL,
    "charge_mosfet_adhesion": Alarm.BMS_INTERNAL,
    "discharge_mosfet_adhesion": Alarm.BMS_INTERNAL,
    "charge_mosfet_open_circuit": Alarm.BMS_INTERNAL,
    "discharge_mosfet_open_circuit": Alarm.BMS_INTERNAL,
    "afe_chip_fault": Alarm.BMS_INTERNAL,
    "cell_voltage_collection_lost": Alarm.BMS_INTERNAL,
    "cell_temperature_sensor_fault": Alarm.BMS_INTERNAL,
    "eeprom_fault": Alarm.BMS_INTERNAL,
    "precharge_failure": Alarm.BMS_INTERNAL,
    "internal_communication_fault": Alarm.BMS_INTERNAL,
    "current_module_fault": Alarm.BMS_INTERNAL,
    "pack_voltage_detection_fault": Alarm.BMS_INTERNAL,
    "short_circuit_protection": Alarm.BMS_INTERNAL,
    "low_voltage_no_charging": Alarm.CELL_UNDERVOLTAGE,
}


def alarm_of(name: str) -> Alarm | None:
    """The core alarm of one 0x98 failure name (``_l1``/``_l2`` levels map alike), or ``None``."""
    return ALARM_MAP.get(name.removesuffix("_l1").removesuffix("_l2"))


def core_alarms(poll: DalyPoll) -> frozenset[Alarm]:
    """The core alarms ``poll`` raises (0x98 bits, plus a cell at 0 mV)."""
    alarms = set()
    if poll.failures is not None:
        alarms = {alarm for name in poll.failures.names if (alarm := alarm_of(name)) is not None}
    if poll.cell_voltages_v and any(v == 0 for v in poll.cell_voltages_v):
        alarms.add(Alarm.CELL_ZERO_VOLTAGE)
    return frozenset(alarms)


def signed_current(poll: DalyPoll, *, invert_current: bool = False) -> float | None:
    """The current, + = charging, checked against the 0x93 state.

    :raises ImplausibleReply: the current flows against the state the BMS reports.
    """
    if poll.pack is None:
        return None
    current = -poll.pack.current_a if invert_current else poll.pack.current_a
    current += 0.0
    state = poll.mosfets.state if poll.mosfets is not None else "stationary"
    against = (state == "charging" and current <= -DISAGREEMENT_A) or (
        state == "discharging" and current >= DISAGREEMENT_A
    )
    if against:
        setting = "true" if invert_current else "false"
        raise ImplausibleReply(
            f"current {current:+.1f} A (raw {poll.pack.current_raw}) flows against the BMS state "
            f"'{state}' with daly.invert_current = {setting}: check that setting for this unit"
        )
    return current


def temperatures(poll: DalyPoll) -> tuple[float, ...]:
    """The battery probes: 0x96, or else the coldest and hottest of 0x92, or else none."""
    if poll.temperatures_c is not None:
        return poll.temperatures_c
    extremes = poll.temperature_extremes
    if extremes is None:
        return ()
    if extremes.min_probe == extremes.max_probe:
        return (extremes.min_temperature_c,)
    return (extremes.min_temperature_c, extremes.max_temperature_c)


def to_reading(
    poll: DalyPoll,
    source_id: str,
    taken_at_s: float,
    *,
    invert_current: bool = False,
    capacity_ah: float | None = None,
) -> BatteryReading:
    """The core reading of a complete poll, stamped ``taken_at_s`` (the engine clock at reply time).

    :raises ImplausibleReply: the poll lacks 0x90 or the cells, or the current contradicts the state.
    """
    current = signed_current(poll, invert_current=invert_current)
    if poll.pack is None or current is None or not poll.cell_voltages_v:
        raise ImplausibleReply("a poll without 0x90 or without cell voltages gives no reading")
    mosfets = poll.mosfets
    return BatteryReading(
        source_id=source_id,
        taken_at_s=taken_at_s,
        voltage_v=poll.pack.voltage_v,
        current_a=current,
        soc_pct=poll.pack.soc_pct,
        cell_voltages_v=poll.cell_voltages_v,
        temperatures_c=temperatures(poll),
        alarms=core_alarms(poll),
        charge_enabled=mosfets.charge_mosfet_on if mosfets is not None else True,
        discharge_enabled=mosfets.discharge_mosfet_on if mosfets is not None else True,
        cycle_count=poll.status.cycle_count if poll.status is not None else None,
        capacity_ah=capacity_ah,
        remaining_capacity_ah=mosfets.remaining_capacity_ah if mosfets is not None else None,
    )


def to_json(poll: DalyPoll, *, invert_current: bool = False) -> dict[str, Any]:
    """The JSON of ``gateway daly decode``: BatteryReading field names, only those the frames carry.

    0x91 gives ``max_cell_v``/``min_cell_v`` with their cell numbers only when no 0x95 frames are
    given, and 0x92 gives ``max_temperature_c``/``min_temperature_c`` with their probe numbers only
    when no 0x96 frames are. :raises ImplausibleReply: as :func:`signed_current`.
    """
    doc: dict[str, Any] = {}
    if poll.pack is not None:
        doc["voltage_v"] = round(poll.pack.voltage_v, 1)
        doc["current_a"] = round(signed_current(poll, invert_current=invert_current) or 0.0, 1) + 0.0
        doc["soc_pct"] = round(poll.pack.soc_pct, 1)
    if poll.cell_voltages_v is not None:
        doc["cell_voltages_v"] = [round(v, 3) for v in poll.cell_voltages_v]
        doc["cell_count"] = len(poll.cell_voltages_v)
    elif poll.status is not None:
        doc["cell_count"] = poll.status.cell_count
    if poll.temperatures_c is not None:
        doc["temperatures_c"] = list(poll.temperatures_c)
    if poll.mosfets is not None:
        doc["charge_enabled"] = poll.mosfets.charge_mosfet_on
        doc["discharge_enabled"] = poll.mosfets.discharge_mosfet_on
        doc["remaining_capacity_ah"] = round(poll.mosfets.remaining_capacity_ah, 3)
    if poll.status is not None:
        doc["cycle_count"] = poll.status.cycle_count
    if poll.failures is not None:
        doc["alarms"] = sorted(alarm.value for alarm in core_alarms(poll))
    if poll.cell_extremes is not None and poll.cell_voltages_v is None:
        ext = poll.cell_extremes
        doc |= {
            "max_cell_v": ext.max_cell_v, "max_cell_number": ext.max_cell_number,
            "min_cell_v": ext.min_cell_v, "min_cell_number": ext.min_cell_number,
        }  # fmt: skip
    if poll.temperature_extremes is not None and poll.temperatures_c is None:
        tex = poll.temperature_extremes
        doc |= {
            "max_temperature_c": tex.max_temperature_c, "max_temperature_probe": tex.max_probe,
            "min_temperature_c": tex.min_temperature_c, "min_temperature_probe": tex.min_probe,
        }  # fmt: skip
    return doc
