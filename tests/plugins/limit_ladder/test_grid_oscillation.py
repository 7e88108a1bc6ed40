"""Oscillation by grid power (``oscillation_input = "grid_power"``), on the injected clock.

The meter reading comes with the state (``GatewayState.meter``), as the engine hands it over; a
meter that is not fresh is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway_core.model import GatewayState, Limits, MeterReading
from limit_ladder.config import LadderConfig
from limit_ladder.counteract import NO_METER
from limit_ladder.policy import LadderMemory, decide

from .helpers import has, pack

GRID = {"oscillation_input": "grid_power"}


class GridRunner:
    """Decides once a second with a meter value (``None``: no fresh meter) and a steady battery."""

    def __init__(self, **config: Any) -> None:
        self.config = LadderConfig(**{**GRID, **config})
        self.memory = LadderMemory()
        self.previous: Limits | None = None
        self.cycle = 0

    def at(self, t: float, grid_w: float | None, current: float = 10.0) -> Limits:
        self.cycle += 1
        meter = None if grid_w is None else MeterReading("em", t, grid_w)
        state = GatewayState(
            t, self.cycle, self.previous, meter=meter, meter_age_s=None if meter is None else 0.0
        )
        limits, self.memory = decide(pack(t=t, current=current), self.memory, state, self.config)
        self.previous = limits
        return limits

    def run(self, start: int, stop: int, grid: Callable[[float], float | None]) -> list[Limits]:
        return [self.at(float(t), grid(t)) for t in range(start, stop)]


def swinging(t: float) -> float:
    """+600 W import for 3 s, 600 W export for 3 s: two inverters pushing each other."""
    return 600.0 if int(t) // 3 % 2 == 0 else -600.0


def test_600_w_swings_every_3_s_trigger_the_reduction() -> None:
    run = GridRunner()
    seen = run.run(0, 7, swinging)
    first = next(i for i, lim in enumerate(seen) if lim.charge_current_a < 60)
    assert first == 6  # +600 (0-2), -600 (3-5), +600 at 6: the second swing
    assert (seen[first].charge_current_a, seen[first].discharge_current_a) == (30.0, 30.0)
    assert has(seen[first], "charge 30 A: grid power swung ±600 W 2 times in 20 s")
    assert has(seen[first], "discharge 30 A: grid power swung ±600 W 2 times in 20 s")
    assert run.memory.counteraction.reduced_at_s == 6.0
    seen += run.run(7, 30, swinging)
    assert seen[25].charge_current_a == 30.0
    assert seen[26].charge_current_a == 15.0  # the next reduction one interval (20 s) later
    assert has(seen[26], "charge 15 A: grid power swung ±600 W")


def test_the_reduction_is_logged_with_watts() -> None:
    run = GridRunner()
    events = [
        e for t in range(0, 10) if (run.at(t, swinging(t)) and run.memory.events) for e in run.memory.events
    ]
    assert events == [
        "oscillation: grid power swung 2 times beyond +/-150 W (-600.0 to +600.0 W); "
        "limits reduced to charge 30 A, discharge 30 A"
    ]


@pytest.mark.parametrize(
    "grid",
    [
        lambda t: 2000.0,  # a steady import
        lambda t: -3000.0,  # a steady export
        lambda t: 2000.0 + (300.0 if int(t) % 2 else -300.0),  # a noisy import that never exports
        lambda t: 100.0 if int(t) % 2 else -100.0,  # dither inside +/-150 W
        lambda t: 600.0 if t < 100 else -600.0,  # one change of direction (a cloud)
    ],
)
def test_a_steady_import_never_triggers(grid: Callable[[float], float]) -> None:
    run = GridRunner()
    for limits in run.run(0, 300, grid):
        assert (limits.charge_current_a, limits.discharge_current_a) == (60.0, 60.0)
    assert not run.memory.counteraction.active


def test_the_battery_current_is_not_watched_in_grid_mode() -> None:
    run = GridRunner()
    for t in range(60):
        limits = run.at(t, 500.0, current=15.0 if t % 4 < 2 else -15.0)
        assert limits.charge_current_a == 60.0


def flipping(t: float) -> float:
    """+600 W and -600 W on alternate seconds."""
    return 600.0 if int(t) % 2 == 0 else -600.0


def test_a_detection_between_two_action_intervals_is_not_lost() -> None:
    """Window 5 s, interval 30 s: swings seen at 10-12 s have left the window by 18 s, long before
    the reducer may act again (32 s); the pending detection is acted on then, not a release step."""
    run = GridRunner(oscillation_window_s=5.0, oscillation_interval_s=30.0)
    first = run.run(0, 3, flipping)  # +600, -600, +600: reduced at 2 s
    assert first[2].charge_current_a == 30.0
    run.run(3, 10, lambda t: 500.0)
    run.run(10, 13, flipping)  # detected at 12 s, while the interval runs until 32 s
    assert run.memory.pending is not None
    steady = run.run(13, 45, lambda t: 500.0)  # the swings stop; the window forgets them by 18 s
    charges = {t: lim.charge_current_a for t, lim in zip(range(13, 45), steady, strict=True)}
    assert charges[31] == 30.0 and charges[32] == 15.0  # acted on at 32 s
    assert has(steady[32 - 13], "charge 15 A: grid power swung ±600 W 2 times in 5 s")
    assert run.memory.pending is None
    assert min(charges.values()) == 15.0


def test_without_pending_the_same_trace_releases_instead() -> None:
    """The same trace in current mode (today's behaviour) loses the detection: the test above bites."""
    run = GridRunner(oscillation_window_s=5.0, oscillation_interval_s=30.0, oscillation_input="current")
    for t in [*range(0, 3), *range(10, 13)]:
        run.at(t, None, current=15.0 if flipping(t) > 0 else -15.0)
    charges = [run.at(t, None).charge_current_a for t in range(13, 45)]
    assert min(charges) == 30.0 and charges[-1] == 33.0  # no second reduction; a release step instead


def test_a_stale_meter_sees_no_oscillation_and_releases_stepwise() -> None:
    run = GridRunner()
    run.run(0, 10, swinging)
    assert run.previous is not None and run.previous.charge_current_a == 30.0
    released = run.run(10, 300, lambda t: None)  # the meter goes quiet: state.meter is None
    charges = [lim.charge_current_a for lim in released]
    assert charges == sorted(charges)  # never reduced again
    assert {33.0, 36.0} <= set(charges)  # release_a 3 A per 20 s interval
    assert charges[-1] == 60.0 and not run.memory.counteraction.active
    assert all(has(lim, NO_METER) for lim in released)
    assert run.memory.samples == () and run.memory.pending is None
    assert has(released[0], "charge 30 A: grid power swung ±600 W")  # the cap still says why


def test_a_pending_detection_is_dropped_when_the_meter_goes_stale() -> None:
    run = GridRunner(oscillation_window_s=5.0, oscillation_interval_s=30.0)
    run.run(0, 3, flipping)
    run.run(10, 13, flipping)
    assert run.memory.pending is not None
    run.at(13, None)
    assert run.memory.pending is None


def test_no_meter_from_the_start_never_reduces_and_says_why() -> None:
    run = GridRunner()
    for limits in run.run(0, 100, lambda t: None):
        assert limits.charge_current_a == 60.0 and has(limits, NO_METER)


def test_repeated_meter_readings_count_once() -> None:
    """The engine hands over the same meter value until a new one arrives; it is one sample."""
    run = GridRunner()
    state = GatewayState(0.0, 1, meter=MeterReading("em", 0.0, 600.0))
    memory = LadderMemory()
    for cycle in range(1, 6):
        _, memory = decide(pack(t=float(cycle)), memory, state, run.config)
        state = GatewayState(float(cycle), cycle + 1, meter=MeterReading("em", 0.0, 600.0))
    assert memory.samples == ((0.0, 600.0),)


def test_grid_levels_are_configurable() -> None:
    run = GridRunner(oscillation_grid_levels_w=(1000.0,))
    assert all(lim.charge_current_a == 60 for lim in run.run(0, 60, swinging))
    run = GridRunner(oscillation_grid_levels_w=(500.0,))
    assert min(lim.charge_current_a for lim in run.run(0, 60, swinging)) < 60
