"""Pure: one cycle's result as the ``/api/state`` document (plain dicts, lists, numbers and strings).

Ages are taken at the end of the cycle (``started_at_s + duration_s``), so the document of a cycle
never changes and is built once, however many clients ask. Numbers are the model's own floats,
unrounded: the page rounds them to the decoders' precision when it shows them.
"""

from __future__ import annotations

from typing import Any

from gateway_core.model import (
    BatteryReading,
    CycleResult,
    LimitFlag,
    Limits,
    MeterReading,
    PackResult,
    Problem,
    SinkResult,
)

from .frames import PYLONTECH_PLUGINS, frame_records, pylontech_decoder

#: Bumped when a key changes meaning or disappears (new keys do not bump it).
SCHEMA_VERSION = 1

_FLAG_NAMES = (
    ("charge", LimitFlag.CHARGE),
    ("discharge", LimitFlag.DISCHARGE),
    ("force_charge", LimitFlag.FORCE_CHARGE),
    ("full_charge", LimitFlag.FULL_CHARGE),
)


def _age(at_s: float, then_s: float | None) -> float | None:
    return None if then_s is None else max(0.0, at_s - then_s)


def reading_doc(reading: BatteryReading, at_s: float) -> dict[str, Any]:
    """A reading with its derived values: power, extremes (1-based cell numbers), spread, age."""
    cells = reading.cell_voltages_v
    return {
        "source_id": reading.source_id,
        "age_s": _age(at_s, reading.taken_at_s),
        "voltage_v": reading.voltage_v,
        "current_a": reading.current_a,
        "power_w": reading.power_w,
        "soc_pct": reading.soc_pct,
        "soh_pct": reading.soh_pct,
        "cell_voltages_v": list(cells),
        "max_cell_v": reading.max_cell_v if cells else None,
        "min_cell_v": reading.min_cell_v if cells else None,
        "max_cell": cells.index(reading.max_cell_v) + 1 if cells else None,
        "min_cell": cells.index(reading.min_cell_v) + 1 if cells else None,
        "cell_delta_v": reading.cell_delta_v if cells else None,
        "temperatures_c": list(reading.temperatures_c),
        "bms_temperature_c": reading.bms_temperature_c,
        "alarms": sorted(alarm.value for alarm in reading.alarms),
        "charge_enabled": reading.charge_enabled,
        "discharge_enabled": reading.discharge_enabled,
        "bms_charge_current_limit_a": reading.bms_charge_current_limit_a,
        "bms_discharge_current_limit_a": reading.bms_discharge_current_limit_a,
        "cycle_count": reading.cycle_count,
        "capacity_ah": reading.capacity_ah,
        "remaining_capacity_ah": reading.remaining_capacity_ah,
        "pack_count": reading.pack_count,
    }


def limits_doc(limits: Limits) -> dict[str, Any]:
    """The limits as sent: currents, voltages, request flags, reasons, fault, SOC told, charge state."""
    return {
        "charge_current_a": limits.charge_current_a,
        "discharge_current_a": limits.discharge_current_a,
        "charge_voltage_v": limits.charge_voltage_v,
        "discharge_voltage_v": limits.discharge_voltage_v,
        "flags": [name for name, flag in _FLAG_NAMES if flag in limits.flags],
        "reasons": list(limits.reasons),
        "fault": limits.fault.value if limits.fault is not None else None,
        "reported_soc_pct": limits.reported_soc_pct,
        "charge_state": limits.charge_state,
    }


def problem_doc(problem: Problem) -> dict[str, str]:
    """One problem: the role and plugin it came from, and its message."""
    return {"role": problem.role, "plugin": problem.plugin, "message": problem.message}


def pack_doc(pack: PackResult, at_s: float) -> dict[str, Any]:
    """One source of a bank: online or not, its reading and its own limits."""
    return {
        "name": pack.name,
        "plugin": pack.plugin,
        "online": pack.online,
        "reading": reading_doc(pack.reading, at_s) if pack.reading is not None else None,
        "limits": limits_doc(pack.limits) if pack.limits is not None else None,
        "problems": [problem_doc(p) for p in pack.problems],
    }


def sink_doc(sink: SinkResult, at_s: float) -> dict[str, Any]:
    """One sink: published or not, the frames it sent (decoded for Pylontech), the inverter's age."""
    report = sink.report
    decoder = pylontech_decoder() if sink.plugin in PYLONTECH_PLUGINS else None
    return {
        "name": sink.name,
        "plugin": sink.plugin,
        "published": sink.published,
        "frames_sent": report.frames_sent if report is not None else 0,
        "frames": frame_records(report.frames, decoder) if report is not None else [],
        "peer_seen_age_s": _age(at_s, report.peer_seen_at_s) if report is not None else None,
        "limits_ignored": report.limits_ignored if report is not None else False,
        "report_problems": list(report.problems) if report is not None else [],
        "problems": [problem_doc(p) for p in sink.problems],
    }


def meter_doc(meter: MeterReading, age_s: float | None) -> dict[str, Any]:
    """The grid meter the policy saw: power (+ = importing), per phase, energy counters, age."""
    return {
        "meter_id": meter.meter_id,
        "grid_power_w": meter.grid_power_w,
        "phase_powers_w": list(meter.phase_powers_w),
        "energy_import_kwh": meter.energy_import_kwh,
        "energy_export_kwh": meter.energy_export_kwh,
        "age_s": age_s,
    }


def state_doc(result: CycleResult, *, period_s: float) -> dict[str, Any]:
    """The whole ``/api/state`` document for ``result`` (see docs/web.md for every key)."""
    at_s = result.started_at_s + result.duration_s
    limits = result.limits
    reading = result.reading
    reported_soc = limits.reported_soc_pct
    if reported_soc is None and reading is not None:
        reported_soc = reading.soc_pct
    sinks = [sink_doc(sink, at_s) for sink in result.sinks]
    seen_age = _age(at_s, result.peer_seen_at_s)
    sink_ages = [sink["peer_seen_age_s"] for sink in sinks if sink["peer_seen_age_s"] is not None]
    if seen_age is None and sink_ages:
        seen_age = min(sink_ages)
    ignored = [sink for sink in sinks if sink["limits_ignored"] or sink["report_problems"]]
    return {
        "schema": SCHEMA_VERSION,
        "cycle": result.cycle,
        "period_s": period_s,
        "duration_s": result.duration_s,
        "published": result.published,
        "plugins": {"source": result.source, "policy": result.policy, "sink": result.sink},
        "failsafe": (
            {"fault": limits.fault.value, "reasons": list(limits.reasons)}
            if limits.fault is not None
            else None
        ),
        "reading": reading_doc(reading, at_s) if reading is not None else None,
        "reported_soc_pct": reported_soc,
        "limits": limits_doc(limits),
        "problems": [problem_doc(p) for p in result.problems],
        "packs": [pack_doc(pack, at_s) for pack in result.packs],
        "sinks": sinks,
        "inverter": {
            "seen_age_s": seen_age,
            "limits_ignored": any(sink["limits_ignored"] for sink in sinks),
            "warnings": [f"{s['name']}: {text}" for s in ignored for text in s["report_problems"]],
        },
        "meter": meter_doc(result.meter, result.meter_age_s) if result.meter is not None else None,
    }


def waiting_doc(*, period_s: float) -> dict[str, Any]:
    """The document before the first cycle: nothing read, nothing sent yet."""
    return {"schema": SCHEMA_VERSION, "cycle": 0, "period_s": period_s, "waiting": True}
