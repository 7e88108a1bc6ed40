"""Oscillation counteraction: the pure detector, the reducer, and the policy on simulated traces."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from limit_ladder import oscillation as osc
from limit_ladder.config import LadderConfig

from .helpers import Runner, has

TUNING = osc.Tuning(factor=0.5, interval_s=20.0, release_a=3.0, floor_a=5.0)


@pytest.mark.parametrize(
    ("values", "level", "swings"),
    [
        ([], 12, 0),
        ([15, 15, 15], 12, 0),
        ([15, -15], 12, 1),
        ([15, 0, -15, 3, 15], 12, 2),  # values in between do not count as a side
        ([15, -11, 15], 12, 0),
        ([-13, 13, -13, 13], 12, 3),
        ([8, -8, 8], 12, 0),
        ([8, -8, 8], 6, 2),
    ],
)
def test_count_swings(values: list[float], level: float, swings: int) -> None:
    assert osc.count_swings(values, level) == swings


def test_detect_reports_the_largest_level_crossed() -> None:
    assert osc.detect([15, -15, 15], (12, 6), 2) == osc.Swing(12, 2, 15, -15)
    assert osc.detect([8, -8, 8], (12, 6), 2) == osc.Swing(6, 2, 8, -8)
    assert osc.detect([15, -15], (12, 6), 2) is None  # one change of direction is not an oscillation


@given(st.lists(st.floats(-5.99, 1e4), max_size=50), st.integers(1, 5), st.booleans())
def test_one_sided_or_small_traces_never_trigger(values: list[float], min_swings: int, flip: bool) -> None:
    """Values that never reach -6 A (or, flipped, never +6 A) cannot swing at any level >= 6 A."""
    trace = [-v for v in values] if flip else values
    assert osc.detect(trace, (12.0, 6.0), min_swings) is None
    small = [max(-5.99, min(5.99, v)) for v in trace]
    assert osc.detect(small, (12.0, 6.0), 1) is None


def test_window_keeps_recent_samples() -> None:
    samples = ((0.0, 1.0), (5.0, 2.0), (10.0, 3.0))
    assert osc.window(samples, 20.0, 10.0) == ((10.0, 3.0),)


def test_reducer_at_most_once_per_interval_and_floor() -> None:
    swing = osc.Swing(12, 3, 15, -15)
    state, event = osc.step(osc.Counteraction(), swing, 0.0, 60.0, 60.0, TUNING)
    assert (state.charge_cap_a, state.discharge_cap_a) == (30.0, 30.0)
    assert event is not None and "limits reduced to charge 30 A" in event
    same, event = osc.step(state, swing, 19.0, 60.0, 60.0, TUNING)
    assert same == state and event is None
    state, _ = osc.step(state, swing, 20.0, 60.0, 60.0, TUNING)
    assert state.charge_cap_a == 15.0
    for t in (40.0, 60.0, 80.0):
        state, _ = osc.step(state, swing, t, 60.0, 60.0, TUNING)
    assert state.charge_cap_a == 5.0  # 15 -> 7.5 -> 5 (floor) -> 5


def test_reducer_releases_stepwise_then_lifts() -> None:
    state = osc.Counteraction(charge_cap_a=50.0, discharge_cap_a=55.0, reduced_at_s=0.0, changed_at_s=0.0)
    state, event = osc.step(state, None, 10.0, 60.0, 60.0, TUNING)
    assert state.charge_cap_a == 50.0 and event is None  # not within the interval
    state, event = osc.step(state, None, 20.0, 60.0, 60.0, TUNING)
    assert (state.charge_cap_a, state.discharge_cap_a) == (53.0, 58.0)
    assert event is not None and "caps raised by 3 A" in event
    state, _ = osc.step(state, None, 40.0, 60.0, 60.0, TUNING)
    assert (state.charge_cap_a, state.discharge_cap_a) == (56.0, None)
    state, _ = osc.step(state, None, 60.0, 60.0, 60.0, TUNING)
    state, event = osc.step(state, None, 80.0, 60.0, 60.0, TUNING)
    assert not state.active
    assert event == "oscillation: swings stopped; caps lifted"


def swinging(t: float) -> float:
    """+15 A for 2 s, -15 A for 2 s: two inverters pushing the battery back and forth."""
    return 15.0 if t % 4 < 2 else -15.0


def test_swinging_trace_triggers_the_reduction() -> None:
    run = Runner()
    seen = [run.at(t, current=swinging(t)) for t in range(0, 61)]
    first = next(i for i, lim in enumerate(seen) if lim.charge_current_a < 60)
    assert first <= 5
    assert (seen[first].charge_current_a, seen[first].discharge_current_a) == (30.0, 30.0)
    assert has(seen[first], "charge reduced to 30 A: oscillation counteraction")
    assert run.memory.events == () or "oscillation" in run.memory.events[0]
    # still swinging: at most one further reduction per 20 s interval
    charges = [lim.charge_current_a for lim in seen[first:]]
    assert sorted(set(charges), reverse=True) == [30.0, 15.0, 7.5]
    assert charges.index(15.0) >= 20 and charges.index(7.5) >= 40


@pytest.mark.parametrize(
    "current",
    [
        lambda t: 20.0,  # steady charge
        lambda t: -40.0,  # steady discharge
        lambda t: 25.0 * math.sin(t / 60.0),  # slow change of direction (one swing in a long while)
        lambda t: 15.0 if t < 30 else -15.0,  # a single change of direction (the sun goes away)
        lambda t: 4.0 if t % 4 < 2 else -4.0,  # small dither below the smallest level
    ],
)
def test_steady_traces_never_trigger(current: object) -> None:
    run = Runner()
    for t in range(0, 300):
        limits = run.at(t, current=current(t))  # type: ignore[operator]
        assert limits.charge_current_a == 60 and limits.discharge_current_a == 60
        assert not run.memory.counteraction.active


def test_release_when_the_swings_stop() -> None:
    run = Runner()
    for t in range(0, 10):
        run.at(t, current=swinging(t))
    assert run.previous is not None and run.previous.charge_current_a == 30.0
    charges = [run.at(t, current=10.0).charge_current_a for t in range(10, 400)]
    # the swings still in the window may count once more; after that only release steps follow
    low = min(charges)
    after = charges[charges.index(low) :]
    assert after == sorted(after)  # stepwise up, never down
    assert {low + 3.0, low + 6.0} <= set(after)
    assert charges[-1] == 60.0
    assert not run.memory.counteraction.active


def test_smaller_level_and_factor_are_configurable() -> None:
    run = Runner(LadderConfig(oscillation_factor=0.25, oscillation_levels_a=(6.0,)))
    seen = [run.at(t, current=8.0 if t % 4 < 2 else -8.0) for t in range(10)]
    assert min(lim.charge_current_a for lim in seen) == 15.0


def test_reduction_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from gateway_core.model import GatewayState
    from gateway_core.roles import PluginContext
    from limit_ladder.policy import LadderPolicy

    from .helpers import pack

    policy = LadderPolicy(LadderConfig(), PluginContext("limit_ladder", None, logging.getLogger("t.ladder")))  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="t.ladder"):
        for t in range(10):
            policy.decide(pack(t=t, current=swinging(t)), GatewayState(t, t + 1))
    lines = [r.getMessage() for r in caplog.records if "oscillation" in r.getMessage()]
    assert len(lines) == 1
    assert "swung" in lines[0] and "+/-12 A" in lines[0]
