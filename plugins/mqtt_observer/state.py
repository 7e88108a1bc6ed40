"""The retained state message: a :class:`CycleResult` as a JSON-ready dict (pure).

Fields the cycle did not know (no valid reading, inverter never heard) are ``null``, which Home
Assistant shows as "unknown". Voltages are rounded to mV, currents to 10 mA, power to 0.1 W.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from gateway_core.model import CycleResult, LimitFlag, Limits, PackResult

from .commands import Override


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def limits_state(limits: Limits) -> dict[str, Any]:
    """The ``limits`` object of the state: what was sent, whether each way is allowed, and why."""
    return {
        "charge_current_a": _r(limits.charge_current_a, 2),
        "discharge_current_a": _r(limits.discharge_current_a, 2),
        "charge_voltage_v": _r(limits.charge_voltage_v, 3),
        "discharge_voltage_v": _r(limits.discharge_voltage_v, 3),
        "charge_allowed": LimitFlag.CHARGE in limits.flags and limits.charge_current_a > 0,
        "discharge_allowed": LimitFlag.DISCHARGE in limits.flags and limits.discharge_current_a > 0,
        "force_charge": LimitFlag.FORCE_CHARGE in limits.flags,
        "full_charge": LimitFlag.FULL_CHARGE in limits.flags,
        "reasons": list(limits.reasons),
        "fault": limits.fault.value if limits.fault is not None else None,
    }


def pack_state(pack: PackResult) -> dict[str, Any]:
    """One pack of a bank: whether it counts, its own reading's main values and its own limits."""
    reading, limits = pack.reading, pack.limits
    cells = reading.cell_voltages_v if reading is not None else ()
    return {
        "online": pack.online,
        "plugin": pack.plugin,
        "voltage_v": _r(reading.voltage_v, 3) if reading is not None else None,
        "current_a": _r(reading.current_a, 2) if reading is not None else None,
        "soc_pct": _r(reading.soc_pct, 1) if reading is not None else None,
        "cell_min_v": _r(reading.min_cell_v, 3) if reading is not None and cells else None,
        "cell_max_v": _r(reading.max_cell_v, 3) if reading is not None and cells else None,
        "charge_current_a": _r(limits.charge_current_a, 2) if limits is not None else None,
        "discharge_current_a": _r(limits.discharge_current_a, 2) if limits is not None else None,
        "charge_state": limits.charge_state if limits is not None else None,
        "problems": [f"{p.role} {p.plugin}: {p.message}" for p in pack.problems],
    }


def reported_soc(result: CycleResult) -> float | None:
    """The SOC the inverter is told: the policy's, else the reading's; None without a reading."""
    if result.reading is None:
        return None
    soc = result.limits.reported_soc_pct
    return _r(result.reading.soc_pct if soc is None else soc, 1)


def ignoring_sinks(result: CycleResult) -> list[str] | None:
    """The sinks whose inverter ignores the limits; None when no sink reported this cycle."""
    reports = [(sink.name, sink.report) for sink in result.sinks if sink.report is not None]
    if not reports:
        return None
    return [name for name, report in reports if report is not None and report.limits_ignored]


def build_state(
    result: CycleResult, *, override: Override | None = None, now_s: float | None = None
) -> dict[str, Any]:
    """The state message of ``result``.

    ``now_s`` (default: the end of the cycle) is when "inverter last heard" is measured from;
    ``override`` adds the active charge limit override, if any.
    """
    now = result.started_at_s + result.duration_s if now_s is None else now_s
    reading = result.reading
    roles = {problem.role for problem in result.problems}
    # with the sinks listed, a sink's report problems (the inverter is silent ...) are no lost link
    sink_ok = (
        all(s.published for s in result.sinks) if result.sinks else result.published and "sink" not in roles
    )
    heard = None if result.peer_seen_at_s is None else round(max(0.0, now - result.peer_seen_at_s), 1)
    state: dict[str, Any] = {
        "cycle": result.cycle,
        "voltage_v": None,
        "current_a": None,
        "power_w": None,
        "soc_pct": None,
        "soh_pct": None,
        "cell_voltages_v": None,
        "cell_min_v": None,
        "cell_max_v": None,
        "cell_delta_v": None,
        "temperatures_c": None,
        "bms_temperature_c": None,
        "alarms": None,
        "limits": limits_state(result.limits),
        "failsafe": result.limits.fault is not None,
        "source_ok": "source" not in roles and reading is not None,
        "sink_ok": sink_ok,
        "problems": [f"{p.role} {p.plugin}: {p.message}" for p in result.problems],
        "inverter_last_heard_s_ago": heard,
        "source": result.source,
        "policy": result.policy,
        "sink": result.sink,
        "override": None,
        "reported_soc_pct": reported_soc(result),
        "charge_state": result.limits.charge_state,
        "grid_power_w": None,
        "meter_age_s": None,
        "limits_ignored": None,
        "limits_ignored_by": [],
        "packs": {pack.name: pack_state(pack) for pack in result.packs},
    }
    ignoring = ignoring_sinks(result)
    if ignoring is not None:
        state.update(limits_ignored=bool(ignoring), limits_ignored_by=ignoring)
    if result.meter is not None:
        state["grid_power_w"] = _r(result.meter.grid_power_w, 1)
        state["meter_age_s"] = _r(result.meter_age_s, 1)
    if reading is not None:
        cells = reading.cell_voltages_v
        state.update(
            voltage_v=_r(reading.voltage_v, 3),
            current_a=_r(reading.current_a, 2),
            power_w=_r(reading.power_w, 1),
            soc_pct=_r(reading.soc_pct, 1),
            soh_pct=_r(reading.soh_pct, 1),
            cell_voltages_v=[round(v, 3) for v in cells],
            cell_min_v=_r(reading.min_cell_v, 3) if cells else None,
            cell_max_v=_r(reading.max_cell_v, 3) if cells else None,
            cell_delta_v=_r(reading.cell_delta_v, 3) if cells else None,
            temperatures_c=[round(t, 1) for t in reading.temperatures_c],
            bms_temperature_c=_r(reading.bms_temperature_c, 1),
            alarms=sorted(alarm.value for alarm in reading.alarms),
        )
    if override is not None and override.active(now):
        state["override"] = {
            "charge_current_a": override.charge_current_a,
            "expires_in_s": round(override.expires_at_s - now, 1),
        }
    return state


def encode(state: dict[str, Any]) -> bytes:
    """The state as compact UTF-8 JSON (NaN is impossible: the model rejects it)."""
    return json.dumps(state, separators=(",", ":"), allow_nan=False).encode()


def limits_key(limits: Limits) -> tuple[object, ...]:
    """What makes a limits change worth publishing at once: values, requests, fault and charge
    state, not wording."""
    return (
        limits.charge_current_a,
        limits.discharge_current_a,
        limits.charge_voltage_v,
        limits.discharge_voltage_v,
        limits.flags,
        limits.fault,
        limits.charge_state,
    )


def publish_key(result: CycleResult) -> tuple[object, ...]:
    """Everything whose change is published at once: the limits, which packs are online, and
    which inverters ignore the limits."""
    ignoring = ignoring_sinks(result)
    return (
        limits_key(result.limits),
        tuple((pack.name, pack.online) for pack in result.packs),
        None if ignoring is None else tuple(ignoring),
    )


@dataclass(frozen=True, slots=True)
class Shape:
    """What the per-item Home Assistant entities depend on: cells, probes, packs and the meter.

    ``packs`` are ``(name, plugin)`` of a bank's packs (empty for a single source, whose device is
    the battery itself); ``meter`` is True once a grid meter has been seen.
    """

    cells: int = 0
    temperatures: int = 0
    bms_temperature: bool = False
    model: str = ""
    packs: tuple[tuple[str, str], ...] = ()
    meter: bool = False

    @classmethod
    def of(cls, result: CycleResult, previous: Shape | None) -> Shape:
        """The shape of ``result``; what it does not tell (no reading, no pack list) is kept, so
        entities never vanish for a cycle without data."""
        model = " → ".join(name for name in (result.source, result.sink) if name)
        packs = tuple((p.name, p.plugin) for p in result.packs) if len(result.packs) > 1 else ()
        if not result.packs and previous is not None:
            packs = previous.packs
        meter = result.meter is not None or (previous is not None and previous.meter)
        reading = result.reading
        if reading is None:
            base = previous if previous is not None else cls(model=model)
            return replace(base, packs=packs, meter=meter)
        return cls(
            cells=reading.cell_count,
            temperatures=len(reading.temperatures_c),
            bms_temperature=reading.bms_temperature_c is not None,
            model=model,
            packs=packs,
            meter=meter,
        )
