"""Hysteresis, hold times and ramps, on injected time (``state.now_s``), never sleeps."""

from __future__ import annotations

from gateway_core.model import Fault, Limits
from limit_ladder.config import LadderConfig

from .helpers import Runner, has


def test_charge_steps_down_as_the_highest_cell_rises() -> None:
    run = Runner()
    seen = [
        run.at(t, high=v).charge_current_a for t, v in enumerate([3.30, 3.44, 3.45, 3.47, 3.50, 3.55, 3.60])
    ]
    assert seen == [60.0, 60.0, 30.0, 15.0, 2.0, 0.0, 0.0]


def test_charge_rises_only_after_the_hold_time() -> None:
    run = Runner()
    assert run.at(0, high=3.30).charge_current_a == 60
    assert run.at(10, high=3.56).charge_current_a == 0  # cut at t = 10
    held = run.at(20, high=3.35)
    assert held.charge_current_a == 0
    assert has(held, "charge held at 0 A: re-rise needs 2700 s since the cut (10 s so far)")
    assert "charge 0 A: highest cell 3.560 V >= 3.55 V (at the cut 10 s ago)" in held.reasons
    assert run.at(2709, high=3.35).charge_current_a == 0
    risen = run.at(2710, high=3.35)
    assert risen.charge_current_a == 60
    assert not has(risen, "held")


def test_a_restart_at_a_full_pack_waits_out_the_hold_time() -> None:
    run = Runner()
    assert run.at(100, high=3.56).charge_current_a == 0  # first decision: counts as a cut
    assert has(run.at(160, high=3.35), "re-rise needs 2700 s since the cut (60 s so far)")
    assert run.at(2800, high=3.35).charge_current_a == 60


def test_charge_rises_only_below_the_rerise_voltage() -> None:
    run = Runner(LadderConfig(charge_hold_s=0))
    run.at(0, high=3.56)
    held = run.at(1, high=3.42)
    assert held.charge_current_a == 0
    assert "charge held at 0 A: re-rise needs highest cell < 3.40 V (now 3.420 V)" in held.reasons
    assert run.at(2, high=3.399).charge_current_a == 60


def test_charge_rises_only_at_or_below_the_rerise_soc() -> None:
    run = Runner(LadderConfig(charge_hold_s=0))
    run.at(0, high=3.56, soc=100)
    held = run.at(1, high=3.35, soc=100)
    assert held.charge_current_a == 0
    assert has(held, "re-rise needs SOC <= 99 % (now 100 %)")
    assert run.at(2, high=3.35, soc=99).charge_current_a == 60


def test_a_drop_is_immediate_even_inside_the_hold_time() -> None:
    run = Runner()
    run.at(0, high=3.45)  # 30 A from the start: no cut yet
    assert run.at(1, high=3.48).charge_current_a == 15
    assert run.at(2, high=3.51).charge_current_a == 2
    assert run.at(3, high=3.46).charge_current_a == 2  # no rise
    # the hold counts from the latest cut (t = 2)
    assert run.at(2701, high=3.30).charge_current_a == 2
    assert run.at(2702, high=3.30).charge_current_a == 60


def test_margin_keeps_a_limit_until_the_cell_clears_the_threshold() -> None:
    run = Runner(LadderConfig(charge_hold_s=0))  # margin 0.02 V by default
    assert run.at(0, high=3.10).charge_current_a == 60
    assert run.at(1, high=2.99).charge_current_a == 30  # below the 3.00 V step
    held = run.at(2, high=3.01)
    assert held.charge_current_a == 30
    assert has(held, "re-rise needs highest cell 0.02 V clear of 3.00 V (now 3.010 V)")
    assert run.at(3, high=3.025).charge_current_a == 60


def test_discharge_rises_after_a_cut_only_above_the_soc() -> None:
    run = Runner()
    assert run.at(0, high=3.40, low=3.35, soc=50).discharge_current_a == 60
    assert run.at(1, high=3.40, low=3.05, soc=38).discharge_current_a == 30
    held = run.at(2, high=3.40, low=3.40, soc=38)
    assert held.discharge_current_a == 30
    assert "discharge held at 30 A: re-rise needs SOC > 40 % (now 38 %)" in held.reasons
    assert run.at(3, high=3.40, low=3.40, soc=40).discharge_current_a == 30
    assert run.at(4, high=3.40, low=3.40, soc=41).discharge_current_a == 60


def test_discharge_margin_and_hold_time() -> None:
    run = Runner(LadderConfig(discharge_hold_s=60))
    run.at(0, low=3.35)
    assert run.at(1, low=3.29).discharge_current_a == 50
    assert run.at(2, low=3.32).discharge_current_a == 50  # 3.32 - 0.05 is below 3.30
    assert has(run.at(3, high=3.40, low=3.36), "re-rise needs 60 s since the cut (2 s so far)")
    assert run.at(61, high=3.40, low=3.36).discharge_current_a == 60


def test_ramp_climbs_from_a_real_stop_and_drops_at_once() -> None:
    run = Runner(LadderConfig(ramp_a_per_s=2.0))
    first = run.at(0, high=3.30)
    assert first.charge_current_a == 0  # no previous limits: the sink gave the inverter nothing yet
    assert has(first, "charge ramping up at 2 A/s: 0 A of 60 A")
    assert [run.at(t, high=3.30).charge_current_a for t in (1, 2, 3.5)] == [2.0, 4.0, 7.0]
    for t in range(4, 40):
        run.at(t, high=3.30)
    assert run.at(40, high=3.30).charge_current_a == 60
    assert run.at(41, high=3.48).charge_current_a == 15  # drops are never ramped
    # the engine published stop limits in between (stale reading): ramp again from 0
    run.previous = Limits.stop("reading is 6.0 s old", Fault.STALE_READING)
    run.memory = run.memory  # the policy itself was not asked during the outage
    again = run.at(50, high=3.30, low=3.30)
    assert again.discharge_current_a == 0
    assert run.at(51, high=3.30).discharge_current_a == 2


def test_ramp_off_by_default_jumps() -> None:
    assert Runner().at(0, high=3.30).charge_current_a == 60
