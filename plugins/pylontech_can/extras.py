"""Pure: the signal values of the extension frames (0x35A, 0x35F, 0x370-0x377, 0x379).

Each function takes the last plausible reading (and whether it backs this cycle) and returns the
DBC signal values, or ``None`` when the reading lacks what the frame carries (then the frame is
not sent: a made-up value would be a placeholder). Layouts and sources: docs/pylontech.md.
"""

from __future__ import annotations

from gateway_core.model import Alarm, BatteryReading, Fault

from .mapping import (
    ALARM_FIELDS,
    COMMUNICATION_FAULTS,
    FIELD_OK,
    FIELD_RAISED,
    SYSTEM_FAULTS,
    WARNING_FIELDS,
)

#: 0x35F bytes 0-1: the chemistry as real Pylontech batteries send it ("LI").
CHEMISTRY = int.from_bytes(b"LI", "little")
#: 0x35F bytes 2-3: the version of this gateway's frame layout (1.0).
LAYOUT_VERSION = (1, 0)
#: Kelvin offset of 0x373 (whole kelvin, as Victron and BYD send it).
KELVIN = 273


def alarms_warnings(alarms: frozenset[Alarm], fault: Fault | None) -> dict[str, float]:
    """0x35A: every field the gateway reports is raised (1) or ok (2); the rest not reported (0)."""
    values: dict[str, float] = {}
    raised_any = False
    for name, causes in ALARM_FIELDS.items():
        raised = bool(alarms & causes)
        if name == "bms_internal_alarm" and fault in SYSTEM_FAULTS:
            raised = True
        raised_any = raised_any or raised
        values[name] = FIELD_RAISED if raised else FIELD_OK
    if raised_any or fault in COMMUNICATION_FAULTS or fault in SYSTEM_FAULTS:
        values["general_alarm"] = FIELD_RAISED
    for name, causes in WARNING_FIELDS.items():
        values[name] = FIELD_RAISED if alarms & causes else FIELD_OK
    return values


def battery_info(reading: BatteryReading) -> dict[str, float] | None:
    """0x35F: chemistry, layout version, capacity in Ah, product id (None without a capacity)."""
    if reading.capacity_ah is None:
        return None
    return {
        "chemistry": CHEMISTRY,
        "version_major": LAYOUT_VERSION[0],
        "version_minor": LAYOUT_VERSION[1],
        "capacity": round(reading.capacity_ah),
        "product_id": 0,
    }


def installed_capacity(reading: BatteryReading) -> dict[str, float] | None:
    """0x379: the installed capacity in Ah (None without a capacity)."""
    if reading.capacity_ah is None:
        return None
    return {"installed_capacity": round(reading.capacity_ah)}


def remaining_ah(reading: BatteryReading) -> float | None:
    """The remaining capacity: the BMS's own, else capacity x SOC, else None (rounded to 0.1 Ah)."""
    if reading.remaining_capacity_ah is not None:
        return round(reading.remaining_capacity_ah, 1)
    if reading.capacity_ah is not None:
        return round(reading.capacity_ah * reading.soc_pct / 100.0, 1)
    return None


def cell_extremes(reading: BatteryReading) -> dict[str, float] | None:
    """0x370: highest/lowest probe temperature (0.1 degC) and cell voltage (0.01 V)."""
    if not reading.temperatures_c or not reading.cell_voltages_v:
        return None
    return {
        "max_cell_temperature": max(reading.temperatures_c),
        "min_cell_temperature": min(reading.temperatures_c),
        "max_cell_voltage": reading.max_cell_v,
        "min_cell_voltage": reading.min_cell_v,
    }


def cell_extreme_ids(reading: BatteryReading) -> dict[str, float] | None:
    """0x371: 1-based numbers of the probes and cells that hold the extremes of 0x370."""
    cells, probes = _cell_ids(reading), _probe_ids(reading)
    if cells is None or probes is None:
        return None
    return {
        "max_temperature_sensor": probes[1],
        "min_temperature_sensor": probes[0],
        "max_voltage_cell": cells[1],
        "min_voltage_cell": cells[0],
    }


def modules(packs: int, *, fresh: bool, charge_blocked: bool, discharge_blocked: bool) -> dict[str, float]:
    """0x372: modules online / blocking charge / blocking discharge / offline.

    Without a fresh reading every module counts as offline (the gateway cannot vouch for any).
    """
    if not fresh:
        return {
            "modules_online": 0,
            "modules_blocking_charge": 0,
            "modules_blocking_discharge": 0,
            "modules_offline": packs,
        }
    return {
        "modules_online": packs,
        "modules_blocking_charge": packs if charge_blocked else 0,
        "modules_blocking_discharge": packs if discharge_blocked else 0,
        "modules_offline": 0,
    }


def cell_status(reading: BatteryReading) -> dict[str, float] | None:
    """0x373: lowest/highest cell voltage (mV) and probe temperature (whole kelvin)."""
    if not reading.temperatures_c or not reading.cell_voltages_v:
        return None
    return {
        "min_cell_voltage": reading.min_cell_v,
        "max_cell_voltage": reading.max_cell_v,
        "min_cell_temperature": round(min(reading.temperatures_c)),
        "max_cell_temperature": round(max(reading.temperatures_c)),
    }


def extreme_text(reading: BatteryReading, frame_id: int) -> bytes | None:
    """0x374-0x377: the 1-based number of the extreme cell or probe as ASCII, NUL padded.

    0x374 lowest and 0x375 highest cell voltage, 0x376 coldest and 0x377 warmest probe.
    """
    ids = _cell_ids(reading) if frame_id in (0x374, 0x375) else _probe_ids(reading)
    if ids is None:
        return None
    number = ids[(frame_id - 0x374) % 2]
    return str(number).encode("ascii").ljust(8, b"\x00")


def _cell_ids(reading: BatteryReading) -> tuple[int, int] | None:
    cells = reading.cell_voltages_v
    if not cells:
        return None
    return cells.index(min(cells)) + 1, cells.index(max(cells)) + 1


def _probe_ids(reading: BatteryReading) -> tuple[int, int] | None:
    probes = reading.temperatures_c
    if not probes:
        return None
    return probes.index(min(probes)) + 1, probes.index(max(probes)) + 1
