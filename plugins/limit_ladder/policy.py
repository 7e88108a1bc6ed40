"""The limit_ladder policy: a pure ``decide(reading, memory, state, config)`` and a thin stateful class.

Order of rules, each adding a reason when it sets or caps a value: ladder with hysteresis ->
configured ceiling -> BMS over-current protection -> temperature -> BMS MOSFETs and alarms ->
oscillation counteraction -> ramp. Time comes only from ``state.now_s``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

from gateway_core.model import BatteryReading, GatewayState, LimitFlag, Limits
from gateway_core.roles import PluginContext

from . import oscillation as osc
from .config import LadderConfig
from .ladder import Held, Step, band_min, describe, follow, lookup, volts
from .safety import CHARGE, DISCHARGE, bms_cap, charge_temperature, discharge_temperature, stop_reasons


@dataclass(frozen=True, slots=True)
class LadderMemory:
    """What the policy remembers between cycles (a value; the pure ``decide`` returns a new one)."""

    charge: Held | None = None
    discharge: Held | None = None
    charge_temp_blocked: bool = False
    discharge_temp_blocked: bool = False
    samples: tuple[tuple[float, float], ...] = ()
    counteraction: osc.Counteraction = field(default_factory=osc.Counteraction)
    last_now_s: float | None = None
    last_output: tuple[float, float] | None = None
    events: tuple[str, ...] = ()


class _Limit:
    """One limit being built: its amps and the reasons that set it."""

    def __init__(self, amps: float, reasons: tuple[str, ...]) -> None:
        self.amps = amps
        self.reasons = list(reasons)

    def cap(self, amps: float | None, reason: str | None) -> None:
        """Lower to ``amps`` (a reason is kept only when it binds)."""
        if amps is not None and amps < self.amps:
            self.amps = max(0.0, amps)
            if reason:
                self.reasons.append(reason)

    def zero(self, reasons: tuple[str, ...]) -> None:
        """Stop (every stop reason is kept, even when already at 0 A)."""
        if reasons:
            self.amps = 0.0
            self.reasons.extend(reasons)


def voltage_limits(cell_count: int, config: LadderConfig) -> tuple[float, float, tuple[str, str]]:
    """CVL and DVL: per-cell values times the cell count, unless absolute values are configured."""
    if config.charge_voltage is not None:
        cvl, cvl_why = config.charge_voltage, f"CVL {config.charge_voltage:.2f} V: charge_voltage"
    else:
        cvl = round(config.charge_voltage_per_cell * cell_count, 3)
        cvl_why = f"CVL {cvl:.2f} V: {config.charge_voltage_per_cell:g} V x {cell_count} cells"
    if config.discharge_voltage is not None:
        dvl, dvl_why = config.discharge_voltage, f"DVL {config.discharge_voltage:.2f} V: discharge_voltage"
    else:
        dvl = round(config.discharge_voltage_per_cell * cell_count, 3)
        dvl_why = f"DVL {dvl:.2f} V: {config.discharge_voltage_per_cell:g} V x {cell_count} cells"
    return cvl, dvl, (cvl_why, dvl_why)


def _charge_ladder(
    reading: BatteryReading, held: Held | None, config: LadderConfig, now_s: float
) -> tuple[Held, tuple[str, ...]]:
    ladder, below, cell = config.charge_ladder, config.charge_below_a, reading.max_cell_v
    target = lookup(ladder, below, cell)
    margin = config.charge_rerise_margin_v
    allowed = band_min(ladder, below, cell - margin, cell + margin)
    blockers: list[str] = []
    if held is not None and target.amps > held.amps:
        if cell >= config.charge_rerise_below_v:
            blockers.append(
                f"re-rise needs highest cell < {volts(config.charge_rerise_below_v)} (now {cell:.3f} V)"
            )
        if reading.soc_pct > config.charge_rerise_max_soc:
            blockers.append(
                f"re-rise needs SOC <= {config.charge_rerise_max_soc:g} % (now {reading.soc_pct:g} %)"
            )
        if held.cut_at_s is not None and now_s - held.cut_at_s < config.charge_hold_s:
            so_far = now_s - held.cut_at_s
            blockers.append(f"re-rise needs {config.charge_hold_s:g} s since the cut ({so_far:.0f} s so far)")
        if not blockers and allowed.amps <= held.amps:
            blockers.append(_margin_note("highest", ladder, margin, cell))
    return _follow(CHARGE, "highest", held, target, allowed, blockers, cell, config.charge_ladder, now_s)


def _discharge_ladder(
    reading: BatteryReading, held: Held | None, config: LadderConfig, now_s: float
) -> tuple[Held, tuple[str, ...]]:
    ladder, below, cell = config.discharge_ladder, config.discharge_below_a, reading.min_cell_v
    target = lookup(ladder, below, cell)
    margin = config.discharge_rerise_margin_v
    allowed = band_min(ladder, below, cell - margin, cell + margin)
    blockers: list[str] = []
    if held is not None and target.amps > held.amps:
        if reading.soc_pct <= config.discharge_rerise_min_soc:
            blockers.append(
                f"re-rise needs SOC > {config.discharge_rerise_min_soc:g} % (now {reading.soc_pct:g} %)"
            )
        if held.cut_at_s is not None and now_s - held.cut_at_s < config.discharge_hold_s:
            so_far = now_s - held.cut_at_s
            blockers.append(
                f"re-rise needs {config.discharge_hold_s:g} s since the cut ({so_far:.0f} s so far)"
            )
        if not blockers and allowed.amps <= held.amps:
            blockers.append(_margin_note("lowest", ladder, margin, cell))
    return _follow(DISCHARGE, "lowest", held, target, allowed, blockers, cell, ladder, now_s)


def _margin_note(which: str, ladder: tuple[tuple[float, float], ...], margin: float, cell: float) -> str:
    near = [t for t, _ in ladder if cell - margin <= t <= cell + margin]
    where = volts(min(near, key=lambda t: abs(t - cell))) if near else "the nearest threshold"
    return f"re-rise needs {which} cell {margin:g} V clear of {where} (now {cell:.3f} V)"


def _follow(
    kind: str,
    which: str,
    held: Held | None,
    target: Step,
    allowed: Step,
    blockers: list[str],
    cell: float,
    ladder: tuple[tuple[float, float], ...],
    now_s: float,
) -> tuple[Held, tuple[str, ...]]:
    new, notes = follow(
        held, target, allowed, lambda s: describe(kind, which, s, cell, ladder), blockers, now_s
    )
    if notes:
        when = f"at the cut {now_s - new.cut_at_s:.0f} s ago" if new.cut_at_s is not None else "earlier"
        return new, (f"{new.reason} ({when})", *(f"{kind} held at {new.amps:g} A: {note}" for note in notes))
    return new, (new.reason,)


def _floor(amps: float) -> float:
    """Round down to 0.1 A (the inverter's resolution), never above the computed limit."""
    return max(0.0, math.floor(amps * 10 + 1e-9) / 10)


def decide(
    reading: BatteryReading, memory: LadderMemory, state: GatewayState, config: LadderConfig
) -> tuple[Limits, LadderMemory]:
    """Limits for ``reading`` and the memory for the next cycle; pure (time is ``state.now_s``)."""
    now = state.now_s
    cvl, dvl, volt_reasons = voltage_limits(reading.cell_count, config)
    age = now - reading.taken_at_s
    if age > config.max_reading_age_s:
        why = (
            f"charge and discharge 0 A: the reading is {age:.1f} s old "
            f"(max_reading_age_s {config.max_reading_age_s:g})"
        )
        return Limits(0.0, 0.0, cvl, dvl, LimitFlag.NONE, (why, *volt_reasons)), replace(
            memory, last_now_s=now, last_output=(0.0, 0.0), events=()
        )
    charge_held, charge_notes = _charge_ladder(reading, memory.charge, config, now)
    discharge_held, discharge_notes = _discharge_ladder(reading, memory.discharge, config, now)
    charge = _Limit(charge_held.amps, charge_notes)
    discharge = _Limit(discharge_held.amps, discharge_notes)

    charge.cap(
        config.max_charge_current, f"charge capped at {config.max_charge_current:g} A by max_charge_current"
    )
    discharge.cap(
        config.max_discharge_current,
        f"discharge capped at {config.max_discharge_current:g} A by max_discharge_current",
    )
    if config.respect_bms_limits:
        for limit, kind in ((charge, CHARGE), (discharge, DISCHARGE)):
            cap = bms_cap(reading, kind)
            if cap is not None:
                limit.cap(cap, f"{kind} capped at {cap:g} A by the BMS {kind} over-current protection")

    charge_temp = charge_temperature(reading, config, memory.charge_temp_blocked)
    discharge_temp = discharge_temperature(reading, config, memory.discharge_temp_blocked)
    for limit, verdict in ((charge, charge_temp), (discharge, discharge_temp)):
        if verdict.blocked:
            limit.zero((verdict.reason,) if verdict.reason else ("temperature outside the window",))
        else:
            limit.cap(verdict.cap_a, verdict.reason)
    charge.zero(stop_reasons(reading, CHARGE))
    discharge.zero(stop_reasons(reading, DISCHARGE))

    counteraction, samples, events = _counteract(reading, memory, now, charge.amps, discharge.amps, config)
    if counteraction.charge_cap_a is not None:
        charge.cap(
            _floor(counteraction.charge_cap_a),
            f"charge reduced to {_floor(counteraction.charge_cap_a):g} A: oscillation counteraction",
        )
    if counteraction.discharge_cap_a is not None:
        cap = _floor(counteraction.discharge_cap_a)
        discharge.cap(cap, f"discharge reduced to {cap:g} A: oscillation counteraction")

    if config.ramp_a_per_s > 0:
        _ramp(charge, CHARGE, memory, state, config)
        _ramp(discharge, DISCHARGE, memory, state, config)

    charge_a, discharge_a = _floor(charge.amps), _floor(discharge.amps)
    flags = LimitFlag.NONE
    if charge_a > 0:
        flags |= LimitFlag.CHARGE
    if discharge_a > 0:
        flags |= LimitFlag.DISCHARGE
    limits = Limits(
        charge_a, discharge_a, cvl, dvl, flags, (*charge.reasons, *discharge.reasons, *volt_reasons)
    )
    new_memory = LadderMemory(
        charge=charge_held,
        discharge=discharge_held,
        charge_temp_blocked=charge_temp.blocked,
        discharge_temp_blocked=discharge_temp.blocked,
        samples=samples,
        counteraction=counteraction,
        last_now_s=now,
        last_output=(charge_a, discharge_a),
        events=events,
    )
    return limits, new_memory


def _counteract(
    reading: BatteryReading,
    memory: LadderMemory,
    now: float,
    charge_a: float,
    discharge_a: float,
    config: LadderConfig,
) -> tuple[osc.Counteraction, tuple[tuple[float, float], ...], tuple[str, ...]]:
    """Feed the current into the window, detect swings and advance the reducer."""
    if not config.oscillation:
        return osc.Counteraction(), (), ()
    samples = osc.window((*memory.samples, (now, reading.current_a)), now, config.oscillation_window_s)
    swing = osc.detect(
        [value for _, value in samples], config.oscillation_levels_a, config.oscillation_min_swings
    )
    tuning = osc.Tuning(
        config.oscillation_factor,
        config.oscillation_interval_s,
        config.oscillation_release_a,
        config.oscillation_floor_a,
    )
    new, event = osc.step(memory.counteraction, swing, now, charge_a, discharge_a, tuning)
    if new.reduced_at_s != memory.counteraction.reduced_at_s:
        samples = ()  # a reduction needs fresh evidence before the next one
    return new, samples, (event,) if event else ()


def _ramp(limit: _Limit, kind: str, memory: LadderMemory, state: GatewayState, config: LadderConfig) -> None:
    """Let a rise climb at ``ramp_a_per_s`` from what the sink was actually given."""
    previous = state.previous
    given = (
        0.0
        if previous is None
        else (previous.charge_current_a if kind == CHARGE else previous.discharge_current_a)
    )
    if limit.amps <= given:
        return
    ours = None if memory.last_output is None else memory.last_output[0 if kind == CHARGE else 1]
    continuing = (
        memory.last_now_s is not None and ours is not None and math.isclose(ours, given, abs_tol=0.05)
    )
    dt = max(0.0, state.now_s - memory.last_now_s) if continuing and memory.last_now_s is not None else 0.0
    ramped = min(limit.amps, given + config.ramp_a_per_s * dt)
    if ramped < limit.amps:
        limit.reasons.append(
            f"{kind} ramping up at {config.ramp_a_per_s:g} A/s: {_floor(ramped):g} A of {limit.amps:g} A"
        )
        limit.amps = ramped


class LadderPolicy:
    """The ``limit_ladder`` policy object: keeps the memory and logs changes (one line each)."""

    def __init__(self, config: LadderConfig, ctx: PluginContext | None = None) -> None:
        self.config = config
        self.memory = LadderMemory()
        self._log = ctx.logger if ctx is not None else logging.getLogger("gateway.limit_ladder")
        self._last: Limits | None = None

    def decide(self, reading: BatteryReading, state: GatewayState) -> Limits:
        """Limits for ``reading`` (the core's LimitPolicy protocol)."""
        limits, self.memory = decide(reading, self.memory, state, self.config)
        for event in self.memory.events:
            self._log.info("%s", event)
        last = self._last
        if last is None or (last.charge_current_a, last.discharge_current_a) != (
            limits.charge_current_a,
            limits.discharge_current_a,
        ):
            self._log.debug("limits: %s; %s", limits.summary(), "; ".join(limits.reasons))
        self._last = limits
        return limits
