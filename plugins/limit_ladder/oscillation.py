"""Oscillation counteraction: two inverters (or an inverter and a charger) pushing the battery back
and forth.

The detector is a pure function over a window of signed samples: battery amps, or grid-meter
watts with levels in watts (``oscillation_input = "grid_power"``, see :mod:`.counteract`). The
reducer is a pure state machine: on a detection it multiplies the charge and discharge limits by a
factor (at most once per interval), and once the swings stop it releases the cap stepwise, one step
per interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Swing:
    """A detection: the swing size crossed, how many sign swings, and the window's extremes."""

    level: float
    swings: int
    highest: float
    lowest: float


def count_swings(values: Sequence[float], level: float) -> int:
    """How often the values alternate between ``>= +level`` and ``<= -level`` (in between: ignored)."""
    side = 0
    swings = 0
    for value in values:
        now = 1 if value >= level else -1 if value <= -level else 0
        if now and now != side:
            if side:
                swings += 1
            side = now
    return swings


def detect(values: Sequence[float], levels: Sequence[float], min_swings: int) -> Swing | None:
    """The largest swing size in ``levels`` that ``values`` cross at least ``min_swings`` times."""
    for level in sorted(levels, reverse=True):
        swings = count_swings(values, level)
        if swings >= min_swings:
            return Swing(level, swings, max(values), min(values))
    return None


def window(
    samples: Sequence[tuple[float, float]], now_s: float, window_s: float
) -> tuple[tuple[float, float], ...]:
    """The ``(time_s, value)`` samples no older than ``window_s`` before ``now_s``."""
    return tuple(s for s in samples if now_s - s[0] <= window_s)


@dataclass(frozen=True, slots=True)
class Counteraction:
    """The caps in force (``None``: no cap), when the last reduction / step happened, and why."""

    charge_cap_a: float | None = None
    discharge_cap_a: float | None = None
    reduced_at_s: float | None = None
    changed_at_s: float | None = None
    cause: str = ""

    @property
    def active(self) -> bool:
        """True while either limit is capped."""
        return self.charge_cap_a is not None or self.discharge_cap_a is not None


@dataclass(frozen=True, slots=True)
class Tuning:
    """The reducer's knobs (see ``oscillation_*`` in the config)."""

    factor: float
    interval_s: float
    release_a: float
    floor_a: float


def _reduced(cap: float | None, limit: float, tuning: Tuning) -> float:
    base = min(cap, limit) if cap is not None else limit
    return max(base * tuning.factor, min(tuning.floor_a, base))


def _released(cap: float | None, limit: float, tuning: Tuning) -> float | None:
    if cap is None or cap + tuning.release_a >= limit:
        return None
    return cap + tuning.release_a


def step(
    state: Counteraction,
    swing: Swing | None,
    now_s: float,
    charge_a: float,
    discharge_a: float,
    tuning: Tuning,
    label: str = "battery current",
    unit: str = "A",
) -> tuple[Counteraction, str | None]:
    """Advance the reducer one check; ``charge_a``/``discharge_a`` are the limits before the cap.

    Returns the new state and an event line (a reduction or a release step) or ``None``. A swing
    reduces both caps if no reduction happened within ``interval_s``; with no swing, each interval
    adds ``release_a`` to the caps until they reach the limits and are lifted. ``label`` and
    ``unit`` name the input in the event line.
    """
    if swing is not None:
        if state.reduced_at_s is not None and now_s - state.reduced_at_s < tuning.interval_s:
            return state, None
        charge = _reduced(state.charge_cap_a, charge_a, tuning)
        discharge = _reduced(state.discharge_cap_a, discharge_a, tuning)
        event = (
            f"oscillation: {label} swung {swing.swings} times beyond +/-{swing.level:g} {unit} "
            f"({swing.lowest:+.1f} to {swing.highest:+.1f} {unit}); limits reduced to charge {charge:g} A, "
            f"discharge {discharge:g} A"
        )
        return Counteraction(charge, discharge, now_s, now_s), event
    if not state.active:
        return state, None
    if state.changed_at_s is not None and now_s - state.changed_at_s < tuning.interval_s:
        return state, None
    charge_cap = _released(state.charge_cap_a, charge_a, tuning)
    discharge_cap = _released(state.discharge_cap_a, discharge_a, tuning)
    new = replace(state, charge_cap_a=charge_cap, discharge_cap_a=discharge_cap, changed_at_s=now_s)
    if not new.active:
        return Counteraction(reduced_at_s=state.reduced_at_s), "oscillation: swings stopped; caps lifted"
    event = (
        f"oscillation: swings stopped; caps raised by {tuning.release_a:g} A "
        f"to charge {_fmt(charge_cap)}, discharge {_fmt(discharge_cap)}"
    )
    return new, event


def _fmt(cap: float | None) -> str:
    return "uncapped" if cap is None else f"{cap:g} A"
