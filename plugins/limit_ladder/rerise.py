"""The two ladders with their re-rise rules: a cut applies at once, a rise waits for its conditions.

Pure: each function takes the reading, the value in force (:class:`~.ladder.Held`), the config and
the time, and returns the new value with its reasons (why it is held, when it is).
"""

from __future__ import annotations

from gateway_core.model import BatteryReading

from .config import LadderConfig
from .ladder import Held, Step, band_min, describe, follow, lookup, volts
from .safety import CHARGE, DISCHARGE


def charge_ladder(
    reading: BatteryReading, held: Held | None, config: LadderConfig, now_s: float
) -> tuple[Held, tuple[str, ...]]:
    """The charge limit by the highest cell, held after a cut until the re-rise conditions hold."""
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


def discharge_ladder(
    reading: BatteryReading, held: Held | None, config: LadderConfig, now_s: float
) -> tuple[Held, tuple[str, ...]]:
    """The discharge limit by the lowest cell, held after a cut until the re-rise conditions hold."""
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
