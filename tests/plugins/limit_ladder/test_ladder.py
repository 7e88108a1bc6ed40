"""Table-driven tests over every default step and boundary, and the pure ladder helpers."""

from __future__ import annotations

import pytest

from limit_ladder.config import LadderConfig
from limit_ladder.ladder import Held, Step, band_min, describe, follow, lookup

from .helpers import has, once, pack

# (highest cell V, charge A): each default step exactly at its threshold and just below it.
CHARGE_TABLE = [
    (3.65, 0.0),
    (3.55, 0.0),
    (3.549, 2.0),
    (3.50, 2.0),
    (3.499, 15.0),
    (3.47, 15.0),
    (3.469, 30.0),
    (3.45, 30.0),
    (3.449, 60.0),
    (3.20, 60.0),
    (3.00, 60.0),
    (2.999, 30.0),
    (2.70, 30.0),
    (2.699, 5.0),
    (2.50, 5.0),
]

# (lowest cell V, discharge A)
DISCHARGE_TABLE = [
    (3.45, 60.0),
    (3.30, 60.0),
    (3.299, 50.0),
    (3.10, 50.0),
    (3.099, 30.0),
    (3.00, 30.0),
    (2.999, 10.0),
    (2.90, 10.0),
    (2.899, 0.0),
    (2.60, 0.0),
]


@pytest.mark.parametrize(("high", "amps"), CHARGE_TABLE)
def test_charge_step_by_highest_cell(high: float, amps: float) -> None:
    limits = once(pack(high, low=min(high, 3.0)))
    assert limits.charge_current_a == amps
    assert has(limits, f"charge {amps:g} A: highest cell {high:.3f} V")


@pytest.mark.parametrize(("low", "amps"), DISCHARGE_TABLE)
def test_discharge_step_by_lowest_cell(low: float, amps: float) -> None:
    limits = once(pack(max(low, 3.40), low=low))
    assert limits.discharge_current_a == amps
    assert has(limits, f"discharge {amps:g} A: lowest cell {low:.3f} V")


def test_reason_names_the_threshold_reached() -> None:
    limits = once(pack(3.48))
    assert "charge 15 A: highest cell 3.480 V >= 3.47 V" in limits.reasons
    limits = once(pack(2.65))
    assert "charge 5 A: highest cell 2.650 V is below the last step 2.70 V" in limits.reasons


def test_flags_follow_the_currents() -> None:
    from gateway_core.model import LimitFlag

    full = once(pack(3.56))
    assert full.charge_current_a == 0
    assert LimitFlag.CHARGE not in full.flags
    assert LimitFlag.DISCHARGE in full.flags
    empty = once(pack(3.0, low=2.85))
    assert LimitFlag.DISCHARGE not in empty.flags
    assert LimitFlag.CHARGE in empty.flags


LADDER = LadderConfig().charge_ladder


def test_lookup_first_match_from_the_top() -> None:
    assert lookup(LADDER, 5.0, 3.47) == Step(15.0, 3.47, 2)
    assert lookup(LADDER, 5.0, 1.0) == Step(5.0, None, 6)


@pytest.mark.parametrize(
    ("low", "high", "amps"),
    [
        (3.30, 3.34, 60.0),  # well inside one step
        (2.99, 3.03, 30.0),  # straddles 3.00 V: the 30 A step below counts
        (3.44, 3.48, 15.0),  # straddles 3.45 and 3.47: the lowest of 60/30/15
        (3.56, 3.60, 0.0),
        (2.60, 2.72, 5.0),
    ],
)
def test_band_min_takes_the_lowest_step_the_band_touches(low: float, high: float, amps: float) -> None:
    assert band_min(LADDER, 5.0, low, high).amps == amps


def test_follow_drops_at_once_and_holds_rises_while_blocked() -> None:
    def explain(step: Step) -> str:
        return describe("charge", "highest", step, 3.0, LADDER)

    start, _ = follow(None, Step(60.0, 3.0, 4), Step(60.0, 3.0, 4), explain, (), now_s=0.0, full_a=60.0)
    assert start == Held(60.0, explain(Step(60.0, 3.0, 4)), None)
    below_full, _ = follow(
        None, Step(30.0, 3.45, 3), Step(30.0, 3.45, 3), explain, (), now_s=3.0, full_a=60.0
    )
    assert below_full.cut_at_s == 3.0  # a start below the ladder's best counts as a cut
    cut, _ = follow(start, Step(15.0, 3.47, 2), Step(15.0, 3.47, 2), explain, (), now_s=5.0)
    assert (cut.amps, cut.cut_at_s) == (15.0, 5.0)
    held, notes = follow(cut, Step(60.0, 3.0, 4), Step(60.0, 3.0, 4), explain, ("wait",), now_s=6.0)
    assert held is cut
    assert notes == ("wait",)
    risen, notes = follow(cut, Step(60.0, 3.0, 4), Step(30.0, 3.45, 3), explain, (), now_s=7.0)
    assert risen.amps == 30.0  # only as far as the margin allows
    assert risen.cut_at_s == 5.0
    assert notes == ()
