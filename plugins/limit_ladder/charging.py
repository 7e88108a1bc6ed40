"""Charge states (bulk -> absorption -> float -> bulk), the runaway-cell CVL and the SOC the inverter sees.

Pure: :func:`charge_voltage` takes the reading, the remembered :class:`ChargeMemory`, the time
(``state.now_s``) and the config, and returns a :class:`ChargeDecision` with the new memory.

- **bulk**: the CVL is the absorption voltage (``charge_voltage_per_cell`` x cells).
- **absorption** starts once the pack voltage is within :data:`ABSORPTION_BAND_V` x cells of it.
- **full** once, continuously for ``absorption_hold_s``: current <= ``absorption_tail_current``, cell
  spread <= ``absorption_max_delta_v`` and the pack still within the band ("at the CVL"). Any
  interruption restarts the hold. Then **float**: the CVL is ``float_voltage_per_cell`` x cells.
- **back to bulk** (from absorption or float) when the SOC falls below ``rebulk_below_soc`` or the
  lowest cell below ``rebulk_below_cell_v``, while the pack is not at the absorption CVL (a pack still
  at the CVL is full whatever a drifting SOC says).
- **runaway cell**: while the highest cell is above ``cell_target_v``, the CVL is lowered by the
  excess x cells (every cell brought down by the excess, the runaway one first), never below float.
- **reported SOC**: at most ``reported_soc_max`` until float; 100 % in float, until rebulk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway_core.model import BatteryReading

from .config import LadderConfig
from .voltage import PackVoltages

BULK = "bulk"
ABSORPTION = "absorption"
FLOAT = "float"
STATES = (BULK, ABSORPTION, FLOAT)

#: Absorption starts (and the pack counts as "at the CVL") within this many volts per cell of the CVL.
ABSORPTION_BAND_V = 0.05

_TOLERANCE_V = 1e-6  # cells come in mV; 3.515 - 3.500 must count as 0.015 V


@dataclass(frozen=True, slots=True)
class ChargeMemory:
    """The charge state, when it began, and since when the "full" conditions hold (absorption only).

    Times are on the injected monotonic clock; ``since_s`` is ``None`` before the first decision.
    """

    state: str = BULK
    since_s: float | None = None
    full_since_s: float | None = None


@dataclass(frozen=True, slots=True)
class ChargeDecision:
    """The CVL, the SOC for the inverter (``None``: the BMS's), their reasons, and the next memory."""

    memory: ChargeMemory
    cvl_v: float
    reported_soc_pct: float | None
    reasons: tuple[str, ...]
    event: str | None = None

    @property
    def state(self) -> str:
        """The charge state in force."""
        return self.memory.state


def duration(seconds: float) -> str:
    """A time span for a reason: ``40 s``, ``12 min``, ``2 h 10 min``, ``3 d 4 h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _rebulk_why(reading: BatteryReading, config: LadderConfig) -> str | None:
    if reading.soc_pct < config.rebulk_below_soc:
        return f"SOC {reading.soc_pct:g} % below rebulk_below_soc {config.rebulk_below_soc:g} %"
    if reading.min_cell_v < config.rebulk_below_cell_v:
        limit = config.rebulk_below_cell_v
        return f"lowest cell {reading.min_cell_v:.3f} V below rebulk_below_cell_v {limit:g} V"
    return None


def _full_blockers(reading: BatteryReading, at_cvl: bool, band_v: float, config: LadderConfig) -> list[str]:
    blockers = []
    if reading.current_a > config.absorption_tail_current:
        blockers.append(f"current {reading.current_a:.1f} A > {config.absorption_tail_current:g} A")
    if reading.cell_delta_v > config.absorption_max_delta_v + _TOLERANCE_V:
        blockers.append(f"cell spread {reading.cell_delta_v:.3f} V > {config.absorption_max_delta_v:g} V")
    if not at_cvl:
        blockers.append(f"pack {reading.voltage_v:.2f} V below {band_v:.2f} V")
    return blockers


def _transition(
    reading: BatteryReading, memory: ChargeMemory, now_s: float, volts: PackVoltages, config: LadderConfig
) -> tuple[ChargeMemory, str | None, str | None]:
    """The next state memory, the log line of a change (or ``None``) and the absorption status."""
    band_v = round(volts.absorption_v - ABSORPTION_BAND_V * volts.cells, 3)
    at_cvl = reading.voltage_v >= band_v - _TOLERANCE_V
    state = memory.state if memory.state in STATES else BULK
    since = memory.since_s if memory.since_s is not None else now_s
    full_since = memory.full_since_s
    events: list[str] = []
    if state != BULK and not at_cvl and (why := _rebulk_why(reading, config)):
        events.append(f"charge state {state} -> bulk: {why}")
        state, since, full_since = BULK, now_s, None
    if state == BULK and at_cvl:
        events.append(f"charge state bulk -> absorption: pack {reading.voltage_v:.2f} V >= {band_v:.2f} V")
        state, since, full_since = ABSORPTION, now_s, None
    status = None
    if state == ABSORPTION:
        blockers = _full_blockers(reading, at_cvl, band_v, config)
        if blockers:
            full_since = None
            status = f"absorption: full hold waits for {', '.join(blockers)}"
        else:
            full_since = now_s if full_since is None else full_since
            held = now_s - full_since
            if held >= config.absorption_hold_s:
                events.append(
                    f"charge state absorption -> float: {reading.current_a:.1f} A and spread "
                    f"{reading.cell_delta_v:.3f} V held {duration(held)}"
                )
                state, since, full_since = FLOAT, now_s, None
            else:
                status = (
                    f"absorption: full after {config.absorption_hold_s:g} s at <= "
                    f"{config.absorption_tail_current:g} A and spread <= {config.absorption_max_delta_v:g} V "
                    f"({held:.0f} s so far)"
                )
    return ChargeMemory(state, since, full_since), "; ".join(events) or None, status


def runaway_cvl(
    reading: BatteryReading, cvl_v: float, floor_v: float, config: LadderConfig
) -> tuple[float, str | None]:
    """The CVL lowered for a cell above ``cell_target_v`` (never below ``floor_v``), and why."""
    cells = reading.cell_voltages_v
    highest = max(range(len(cells)), key=lambda i: cells[i])
    excess = cells[highest] - config.cell_target_v
    if excess <= _TOLERANCE_V:
        return cvl_v, None
    lowered = math.floor((cvl_v - excess * len(cells)) * 100 + 1e-9) / 100
    which = f"cell {highest + 1} at {cells[highest]:.3f} V above target {config.cell_target_v:.2f} V"
    if lowered <= floor_v:
        return min(cvl_v, floor_v), f"CVL {min(cvl_v, floor_v):.2f} V: {which}, not below float"
    return lowered, f"CVL {lowered:.2f} V: {which}, lowered by {len(cells)} x {excess:.3f} V"


def reported_soc(reading: BatteryReading, state: str, config: LadderConfig) -> tuple[float, str]:
    """The SOC the inverter is told, and why."""
    if state == FLOAT:
        return 100.0, f"SOC 100 % to the inverter: float (BMS {reading.soc_pct:g} %)"
    soc = min(reading.soc_pct, config.reported_soc_max)
    if soc < reading.soc_pct:
        return (
            soc,
            f"SOC {soc:g} % to the inverter: BMS {reading.soc_pct:g} % capped until float (reported_soc_max)",
        )
    return (
        soc,
        f"SOC {soc:g} % to the inverter: the BMS's (at most {config.reported_soc_max:g} % until float)",
    )


def charge_voltage(
    reading: BatteryReading,
    memory: ChargeMemory,
    now_s: float,
    volts: PackVoltages,
    config: LadderConfig,
    *,
    advance: bool = True,
) -> ChargeDecision:
    """The CVL, the reported SOC and the next charge memory for ``reading`` at ``now_s``.

    With ``advance=False`` (a reading too old to act on) the state is kept as it is.
    """
    if not config.charge_states:
        cvl, why = runaway_cvl(reading, volts.absorption_v, volts.float_v, config)
        fixed = f"CVL {volts.absorption_v:.2f} V: {volts.absorption_how}"
        return ChargeDecision(memory, cvl, None, (fixed, *((why,) if why else ())))
    if advance:
        new, event, status = _transition(reading, memory, now_s, volts, config)
    else:
        new, event, status = memory, None, None
    base = volts.float_v if new.state == FLOAT else volts.absorption_v
    how = volts.float_how if new.state == FLOAT else volts.absorption_how
    since = new.since_s if new.since_s is not None else now_s
    reasons = [f"CVL {base:.2f} V: {new.state} since {duration(now_s - since)} ({how})"]
    if status:
        reasons.append(status)
    cvl, why = runaway_cvl(reading, base, volts.float_v, config)
    if why:
        reasons.append(why)
    soc, soc_why = reported_soc(reading, new.state, config)
    reasons.append(soc_why)
    return ChargeDecision(new, cvl, soc, tuple(reasons), event)
