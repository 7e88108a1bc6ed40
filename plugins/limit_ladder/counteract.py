"""Feeds the oscillation detector from the chosen input and advances the reducer (pure).

``oscillation_input = "current"`` (the default) watches the battery current, as before.
``"grid_power"`` watches the grid meter's power (``state.meter.grid_power_w``) with levels in watts:
a detection the reducer cannot act on yet (a reduction happened less than ``oscillation_interval_s``
ago) is kept as *pending* until it is acted on, so it is never lost between two intervals. With no
fresh meter (``state.meter is None``) nothing is detected, the window and any pending detection are
dropped, and the caps release stepwise as after the swings stopped; a reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway_core.model import BatteryReading, GatewayState

from . import oscillation as osc
from .config import LadderConfig

Samples = tuple[tuple[float, float], ...]

NO_METER = "oscillation by grid power: no fresh grid meter reading, so no swing is seen"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The reducer's new state, the window to keep, a pending detection, log events and notes."""

    counteraction: osc.Counteraction
    samples: Samples
    pending: osc.Swing | None = None
    events: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _tuning(config: LadderConfig) -> osc.Tuning:
    return osc.Tuning(
        config.oscillation_factor,
        config.oscillation_interval_s,
        config.oscillation_release_a,
        config.oscillation_floor_a,
    )


def grid_cause(swing: osc.Swing, window_s: float) -> str:
    """A reason for a grid detection: ``grid power swung ±600 W 4 times in 20 s``."""
    both_sides = min(abs(swing.highest), abs(swing.lowest))
    return f"grid power swung ±{both_sides:.0f} W {swing.swings} times in {window_s:g} s"


def counteract(
    reading: BatteryReading,
    samples: Samples,
    counteraction: osc.Counteraction,
    pending: osc.Swing | None,
    state: GatewayState,
    charge_a: float,
    discharge_a: float,
    config: LadderConfig,
) -> Outcome:
    """Detect swings on the configured input and step the reducer at ``state.now_s``."""
    if not config.oscillation:
        return Outcome(osc.Counteraction(), ())
    now = state.now_s
    if config.oscillation_input == "grid_power":
        return _grid(samples, counteraction, pending, state, charge_a, discharge_a, config)
    window = osc.window((*samples, (now, reading.current_a)), now, config.oscillation_window_s)
    swing = osc.detect([v for _, v in window], config.oscillation_levels_a, config.oscillation_min_swings)
    new, event = osc.step(counteraction, swing, now, charge_a, discharge_a, _tuning(config))
    if new.reduced_at_s != counteraction.reduced_at_s:
        window = ()  # a reduction needs fresh evidence before the next one
    return Outcome(new, window, None, (event,) if event else ())


def _grid(
    samples: Samples,
    counteraction: osc.Counteraction,
    pending: osc.Swing | None,
    state: GatewayState,
    charge_a: float,
    discharge_a: float,
    config: LadderConfig,
) -> Outcome:
    now, meter = state.now_s, state.meter
    notes: tuple[str, ...] = ()
    if meter is None:
        window: Samples = ()
        swing = pending = None
        notes = (NO_METER,)
    else:
        if not samples or samples[-1][0] != meter.taken_at_s:
            samples = (*samples, (meter.taken_at_s, meter.grid_power_w))
        window = osc.window(samples, now, config.oscillation_window_s)
        levels, needed = config.oscillation_grid_levels_w, config.oscillation_min_swings
        fresh = osc.detect([v for _, v in window], levels, needed)
        keep_pending = pending is not None and (fresh is None or pending.level > fresh.level)
        swing = pending if keep_pending else fresh
    new, event = osc.step(
        counteraction, swing, now, charge_a, discharge_a, _tuning(config), "grid power", "W"
    )
    acted = new.reduced_at_s != counteraction.reduced_at_s
    if acted and swing is not None:
        new = replace(new, cause=grid_cause(swing, config.oscillation_window_s))
        return Outcome(new, (), None, (event,) if event else (), notes)
    return Outcome(new, window, swing, (event,) if event else (), notes)
