"""Several packs in parallel as one battery: combine their readings and their limits (pure).

Each pack is decided on its own reading by its own policy object; the bank then combines:

- currents: ``weakest`` = packs online x the lowest pack limit (packs in parallel do not share
  current equally, so the weakest pack bounds every other); ``sum`` = the sum of the pack limits;
- voltages: the lowest CVL and the highest DVL;
- requests: a flag is kept only if every online pack keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model import BatteryReading, LimitFlag, Limits

CHARGE_STATE_ORDER = ("bulk", "absorption", "float")


@dataclass(frozen=True, slots=True)
class PackLimits:
    """One online pack: its name, the reading its limits rest on, and its policy's limits."""

    name: str
    reading: BatteryReading
    limits: Limits


def combine_readings(packs: Sequence[PackLimits]) -> BatteryReading:
    """The bank as one battery: mean voltage, summed current, capacity-weighted SOC, every cell."""
    readings = [p.reading for p in packs]
    if len(readings) == 1:
        return readings[0]
    capacities = [r.capacity_ah for r in readings]
    soc = _weighted([r.soc_pct for r in readings], capacities)
    remaining = [r.remaining_capacity_ah for r in readings]
    bms_temps = [r.bms_temperature_c for r in readings if r.bms_temperature_c is not None]
    cycles = [r.cycle_count for r in readings if r.cycle_count is not None]
    return BatteryReading(
        source_id="bank:" + ",".join(p.name for p in packs),
        taken_at_s=min(r.taken_at_s for r in readings),
        voltage_v=sum(r.voltage_v for r in readings) / len(readings),
        current_a=sum(r.current_a for r in readings),
        soc_pct=soc,
        cell_voltages_v=tuple(v for r in readings for v in r.cell_voltages_v),
        temperatures_c=tuple(t for r in readings for t in r.temperatures_c),
        soh_pct=min(r.soh_pct for r in readings),
        bms_temperature_c=max(bms_temps) if bms_temps else None,
        alarms=frozenset().union(*(r.alarms for r in readings)),
        charge_enabled=all(r.charge_enabled for r in readings),
        discharge_enabled=all(r.discharge_enabled for r in readings),
        bms_charge_current_limit_a=_sum_known([r.bms_charge_current_limit_a for r in readings]),
        bms_discharge_current_limit_a=_sum_known([r.bms_discharge_current_limit_a for r in readings]),
        cycle_count=max(cycles) if cycles else None,
        capacity_ah=sum(c for c in capacities if c is not None) if None not in capacities else None,
        remaining_capacity_ah=sum(r for r in remaining if r is not None) if None not in remaining else None,
        pack_count=sum(r.pack_count for r in readings),
        series_cells=min(r.cells_in_series for r in readings),
    )


def combine_limits(packs: Sequence[PackLimits], mode: str, total: int) -> Limits:
    """The bank's limits from the online packs' limits (``mode``: ``weakest`` or ``sum``).

    ``total`` is how many packs the bank has, for the reasons. A single pack's limits pass unchanged.
    """
    if len(packs) == 1 and total == 1:
        return packs[0].limits
    online = len(packs)
    limits = [p.limits for p in packs]
    if mode == "sum":
        charge = sum(lim.charge_current_a for lim in limits)
        discharge = sum(lim.discharge_current_a for lim in limits)
        head = f"bank: {online} of {total} packs online; currents are the sum of the pack limits"
    else:
        weakest_c = min(packs, key=lambda p: p.limits.charge_current_a)
        weakest_d = min(packs, key=lambda p: p.limits.discharge_current_a)
        charge = online * weakest_c.limits.charge_current_a
        discharge = online * weakest_d.limits.discharge_current_a
        head = (
            f"bank: {online} of {total} packs online; charge {online} x {weakest_c.name}'s "
            f"{weakest_c.limits.charge_current_a:g} A, discharge {online} x {weakest_d.name}'s "
            f"{weakest_d.limits.discharge_current_a:g} A"
        )
    flags = LimitFlag.CHARGE | LimitFlag.DISCHARGE | LimitFlag.FORCE_CHARGE | LimitFlag.FULL_CHARGE
    for lim in limits:
        flags &= lim.flags
    if charge <= 0:
        flags &= ~(LimitFlag.CHARGE | LimitFlag.FORCE_CHARGE | LimitFlag.FULL_CHARGE)
    if discharge <= 0:
        flags &= ~LimitFlag.DISCHARGE
    cvls = [lim.charge_voltage_v for lim in limits if lim.charge_voltage_v is not None]
    dvls = [lim.discharge_voltage_v for lim in limits if lim.discharge_voltage_v is not None]
    reported = [
        lim.reported_soc_pct if lim.reported_soc_pct is not None else p.reading.soc_pct
        for p, lim in zip(packs, limits, strict=True)
    ]
    any_reported = any(lim.reported_soc_pct is not None for lim in limits)
    capacities = [p.reading.capacity_ah for p in packs]
    states = [lim.charge_state for lim in limits if lim.charge_state in CHARGE_STATE_ORDER]
    reasons = (head, *(f"{p.name}: {reason}" for p in packs for reason in p.limits.reasons))
    return Limits(
        charge_current_a=charge,
        discharge_current_a=discharge,
        charge_voltage_v=min(cvls) if cvls else None,
        discharge_voltage_v=max(dvls) if dvls else None,
        flags=flags,
        reasons=reasons,
        reported_soc_pct=_weighted(reported, capacities) if any_reported else None,
        charge_state=min(states, key=CHARGE_STATE_ORDER.index) if states else None,
    )


def _weighted(values: Sequence[float], weights: Sequence[float | None]) -> float:
    """Mean of ``values`` weighted by ``weights``; the plain mean when a weight is unknown or 0."""
    if any(w is None or w <= 0 for w in weights):
        return sum(values) / len(values)
    known = [w for w in weights if w is not None]
    return sum(v * w for v, w in zip(values, known, strict=True)) / sum(known)


def _sum_known(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)
