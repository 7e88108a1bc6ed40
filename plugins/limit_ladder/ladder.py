"""Pure step lookup in a threshold ladder, and the hysteresis that holds a limit after a cut.

A ladder is a tuple of ``(threshold_v, amps)`` steps, highest threshold first; the first step whose
threshold the cell reaches (``cell >= threshold``) wins, and ``below_a`` applies under the last step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .config import Ladder


@dataclass(frozen=True, slots=True)
class Step:
    """One ladder step: its amps and threshold (``None`` for "below the last step")."""

    amps: float
    threshold_v: float | None
    index: int


def steps(ladder: Ladder, below_a: float) -> tuple[Step, ...]:
    """Every step of ``ladder``, the "below the last step" one last."""
    out = [Step(amps, threshold, index) for index, (threshold, amps) in enumerate(ladder)]
    out.append(Step(below_a, None, len(ladder)))
    return tuple(out)


def lookup(ladder: Ladder, below_a: float, cell_v: float) -> Step:
    """The step for a cell at ``cell_v``: the first whose threshold it reaches."""
    for index, (threshold, amps) in enumerate(ladder):
        if cell_v >= threshold:
            return Step(amps, threshold, index)
    return Step(below_a, None, len(ladder))


def band_min(ladder: Ladder, below_a: float, low_v: float, high_v: float) -> Step:
    """The lowest-amps step whose voltage interval meets ``[low_v, high_v]``.

    A limit may rise only to this value: the cell must be clear of every threshold that would lower
    the limit by the hysteresis margin. Step ``i`` covers ``[t_i, t_(i-1))``.
    """
    best: Step | None = None
    upper = float("inf")
    for step in steps(ladder, below_a):
        lower = step.threshold_v if step.threshold_v is not None else float("-inf")
        if lower <= high_v and low_v < upper and (best is None or step.amps < best.amps):
            best = step
        upper = lower
    assert best is not None  # the intervals cover the whole line
    return best


def describe(kind: str, cell: str, step: Step, cell_v: float, ladder: Ladder) -> str:
    """A user-facing reason, e.g. ``charge 15 A: highest cell 3.480 V >= 3.47 V``."""
    if step.threshold_v is not None:
        return f"{kind} {step.amps:g} A: {cell} cell {cell_v:.3f} V >= {volts(step.threshold_v)}"
    last = ladder[-1][0]
    return f"{kind} {step.amps:g} A: {cell} cell {cell_v:.3f} V is below the last step {volts(last)}"


def volts(value: float) -> str:
    """A threshold as written in the config, at least two decimals: ``3.00 V``, ``3.151 V``."""
    text = f"{value:.2f}"
    return f"{text} V" if float(text) == value else f"{value:.3f} V"


@dataclass(frozen=True, slots=True)
class Held:
    """The ladder value in force: its amps, why, and when it was last cut (``None``: never)."""

    amps: float
    reason: str
    cut_at_s: float | None = None


def follow(
    held: Held | None,
    target: Step,
    allowed: Step,
    explain: Callable[[Step], str],
    blockers: Sequence[str],
    now_s: float,
    full_a: float = float("inf"),
) -> tuple[Held, tuple[str, ...]]:
    """Apply "drop at once, rise only when allowed" to the ladder value.

    ``target`` is the step for the cell now, ``allowed`` the step the hysteresis margin permits
    (:func:`band_min`), ``explain`` turns a step into its reason, ``blockers`` are the unmet
    re-rise conditions. Returns the new value and, when it is held below the target, why.
    The first value counts as a cut when it is below ``full_a`` (the ladder's highest amps): a
    restart at a full pack waits out the hold time like a cut did.
    """
    if held is None:
        return Held(target.amps, explain(target), now_s if target.amps < full_a else None), ()
    if target.amps < held.amps:
        return Held(target.amps, explain(target), now_s), ()
    if target.amps == held.amps:
        return Held(held.amps, explain(target), held.cut_at_s), ()
    if blockers:
        return held, tuple(blockers)
    if allowed.amps <= held.amps:
        return held, (f"re-rise needs the cell clear of the {_where(allowed)} step by the margin",)
    rise_to = allowed if allowed.amps < target.amps else target
    return Held(rise_to.amps, explain(rise_to), held.cut_at_s), ()


def _where(step: Step) -> str:
    return volts(step.threshold_v) if step.threshold_v is not None else "lowest"
