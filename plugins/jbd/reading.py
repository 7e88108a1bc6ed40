"""Map decoded JBD replies onto the core :class:`BatteryReading` and onto the CLI's JSON.

Pure. Protection bits become the shared :class:`Alarm` members (bit positions stay in
:mod:`jbd.decode`); an unassigned bit counts as :attr:`Alarm.BMS_INTERNAL`, a cell reading 0 mV adds
:attr:`Alarm.CELL_ZERO_VOLTAGE`. ``mosfet_software_lock`` (FETs switched off by configuration) is no
alarm: the FET bits, which the policy obeys, already carry it.
"""

from __future__ import annotations

from typing import Any

from gateway_core.model import Alarm, BatteryReading

from .decode import BasicInfo, check_cells

#: Protection name -> core alarm.
ALARM_MAP: dict[str, Alarm] = {
    "cell_overvoltage": Alarm.CELL_OVERVOLTAGE,
    "cell_undervoltage": Alarm.CELL_UNDERVOLTAGE,
    "pack_overvoltage": Alarm.PACK_OVERVOLTAGE,
    "pack_undervoltage": Alarm.PACK_UNDERVOLTAGE,
    "charge_overtemperature": Alarm.BATTERY_OVERTEMPERATURE,
    "charge_undertemperature": Alarm.BATTERY_UNDERTEMPERATURE,
    "discharge_overtemperature": Alarm.BATTERY_OVERTEMPERATURE,
    "discharge_undertemperature": Alarm.BATTERY_UNDERTEMPERATURE,
    "charge_overcurrent": Alarm.CHARGE_OVERCURRENT,
    "discharge_overcurrent": Alarm.DISCHARGE_OVERCURRENT,
    "short_circuit": Alarm.DISCHARGE_OVERCURRENT,
    "front_end_ic_error": Alarm.BMS_INTERNAL,
    "bit_13": Alarm.BMS_INTERNAL,
    "bit_14": Alarm.BMS_INTERNAL,
    "bit_15": Alarm.BMS_INTERNAL,
}


def core_alarms(basic: BasicInfo | None, cells: tuple[float, ...] | None) -> frozenset[Alarm]:
    """The core alarms the protection bits and a 0 mV cell raise."""
    alarms = {ALARM_MAP[name] for name in basic.protections if name in ALARM_MAP} if basic else set()
    if cells and any(cell == 0.0 for cell in cells):
        alarms.add(Alarm.CELL_ZERO_VOLTAGE)
    return frozenset(alarms)


def signed_current(basic: BasicInfo, invert_current: bool) -> float:
    """The pack current, + = charging, flipped when the shunt is wired backwards."""
    return (-basic.current_a if invert_current else basic.current_a) + 0.0


def to_reading(
    basic: BasicInfo,
    cells: tuple[float, ...],
    source_id: str,
    taken_at_s: float,
    *,
    invert_current: bool = False,
) -> BatteryReading:
    """The core reading of one poll. :raises ImplausibleReply: the cell count contradicts the cells."""
    check_cells(basic, cells)
    return BatteryReading(
        source_id=source_id,
        taken_at_s=taken_at_s,
        voltage_v=basic.voltage_v,
        current_a=signed_current(basic, invert_current),
        soc_pct=float(basic.soc_pct),
        cell_voltages_v=cells,
        temperatures_c=basic.temperatures_c,
        alarms=core_alarms(basic, cells),
        charge_enabled=basic.charge_mosfet_on,
        discharge_enabled=basic.discharge_mosfet_on,
        cycle_count=basic.cycle_count,
        capacity_ah=basic.nominal_capacity_ah,
        remaining_capacity_ah=basic.remaining_capacity_ah,
    )


def to_json(
    basic: BasicInfo | None,
    cells: tuple[float, ...] | None,
    name: str | None = None,
    *,
    invert_current: bool = False,
) -> dict[str, Any]:
    """The keys the given replies carry (``gateway jbd decode``/``read --json``).

    BatteryReading names: ``voltage_v``, ``current_a``, ``soc_pct``, ``cell_voltages_v``,
    ``temperatures_c``, ``charge_enabled``, ``discharge_enabled``, ``cycle_count``, ``capacity_ah``
    (nominal), ``remaining_capacity_ah``, ``cell_count``, ``alarms``; extras ``balancing_cells``,
    ``protection_bits`` (names) and, with a 0x05 reply, ``hardware_name``.
    """
    if basic is not None and cells is not None:
        check_cells(basic, cells)
    out: dict[str, Any] = {}
    if basic is not None:
        out |= {
            "voltage_v": basic.voltage_v,
            "current_a": signed_current(basic, invert_current),
            "soc_pct": basic.soc_pct,
            "temperatures_c": list(basic.temperatures_c),
            "charge_enabled": basic.charge_mosfet_on,
            "discharge_enabled": basic.discharge_mosfet_on,
            "cycle_count": basic.cycle_count,
            "capacity_ah": basic.nominal_capacity_ah,
            "remaining_capacity_ah": basic.remaining_capacity_ah,
            "cell_count": basic.cell_count,
        }
    if cells is not None:
        out |= {"cell_voltages_v": list(cells), "cell_count": len(cells)}
    if basic is not None or cells is not None:
        out["alarms"] = sorted(alarm.value for alarm in core_alarms(basic, cells))
    if basic is not None:
        out["balancing_cells"] = list(basic.balancing_cells)
        out["protection_bits"] = list(basic.protections)
    if name is not None:
        out["hardware_name"] = name
    return out
