"""Charge states on the injected clock: bulk -> absorption -> float -> bulk, the runaway cell, the SOC sent.

16 cells with the defaults: absorption CVL 3.45 V x 16 = 55.2 V, float 3.375 V x 16 = 54.0 V,
absorption from 54.4 V (0.05 V x 16 below the CVL), full after 900 s at <= 5 A and <= 0.015 V spread.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.model import BatteryReading, Limits
from limit_ladder.charging import duration
from limit_ladder.config import LadderConfig

from .helpers import Runner, has, once, pack

BULK_CVL, FLOAT_CVL = 55.2, 54.0


def to_float(run: Runner, start: float = 0.0) -> float:
    """Charge ``run`` from bulk to float; returns the time float began."""
    run.at(start, high=3.35, low=3.33, current=50.0, soc=90)  # 53.4 V: bulk
    run.at(start + 600, high=3.45, low=3.44, current=4.0, soc=95)  # 55.12 V, 4 A, 0.010 V: hold starts
    limits = run.at(start + 1500, high=3.45, low=3.44, current=3.0, soc=95)
    assert limits.charge_state == "float"
    return start + 1500


def test_bulk_absorption_float_only_after_tail_and_spread_held_for_the_hold_time() -> None:
    run = Runner()
    table = [
        # t, high, low, current, soc -> state, CVL
        (0, 3.35, 3.33, 50.0, 90, "bulk", BULK_CVL),
        (600, 3.42, 3.40, 30.0, 96, "absorption", BULK_CVL),  # 54.56 V >= 54.4 V
        (900, 3.45, 3.42, 4.0, 97, "absorption", BULK_CVL),  # 4 A, but the spread is 0.030 V
        (1200, 3.45, 3.44, 8.0, 97, "absorption", BULK_CVL),  # spread ok, current 8 A > 5 A
        (1500, 3.45, 3.44, 4.0, 98, "absorption", BULK_CVL),  # both hold from here
        (2399, 3.45, 3.44, 2.0, 99, "absorption", BULK_CVL),  # 899 s
        (2400, 3.45, 3.44, 2.0, 99, "float", FLOAT_CVL),  # 900 s
        (6000, 3.40, 3.38, 0.0, 99, "float", FLOAT_CVL),
    ]
    for t, high, low, current, soc, state, cvl in table:
        limits = run.at(t, high=high, low=low, current=current, soc=soc)
        assert (limits.charge_state, limits.charge_voltage_v) == (state, cvl), t
    assert has(limits, "CVL 54.00 V: float since 1 h 0 min (3.375 V x 16 cells)")


def test_absorption_reasons_say_what_the_full_hold_waits_for() -> None:
    run = Runner()
    limits = run.at(0, high=3.45, low=3.42, current=8.0, soc=97)
    assert limits.charge_state == "absorption"
    assert has(limits, "absorption: full hold waits for current 8.0 A > 5 A, cell spread 0.030 V > 0.015 V")
    limits = run.at(10, high=3.45, low=3.44, current=4.0, soc=97)
    assert has(limits, "absorption: full after 900 s at <= 5 A and spread <= 0.015 V (0 s so far)")
    limits = run.at(130, high=3.45, low=3.44, current=4.0, soc=97)
    assert has(limits, "(120 s so far)")


def test_a_current_spike_restarts_the_hold() -> None:
    run = Runner()
    run.at(0, high=3.45, low=3.44, current=4.0)  # absorption; the hold starts at 0
    assert run.at(450, high=3.45, low=3.44, current=4.0).charge_state == "absorption"
    spike = run.at(460, high=3.46, low=3.44, current=20.0)  # the sun comes back for a moment
    assert has(spike, "full hold waits for current 20.0 A > 5 A")
    run.at(461, high=3.45, low=3.44, current=4.0)  # the hold starts again here
    assert run.at(900, high=3.45, low=3.44, current=4.0).charge_state == "absorption"  # 900 s since 0
    assert run.at(1360, high=3.45, low=3.44, current=4.0).charge_state == "absorption"  # 899 s
    assert run.at(1361, high=3.45, low=3.44, current=4.0).charge_state == "float"


@pytest.mark.parametrize(
    ("interruption", "why"),
    [
        ({"high": 3.47, "low": 3.44}, "cell spread 0.030 V > 0.015 V"),
        ({"high": 3.39, "low": 3.38, "current": 0.0}, "pack 54.16 V below 54.40 V"),
    ],
)
def test_a_spread_or_a_voltage_dip_restarts_the_hold(interruption: dict[str, Any], why: str) -> None:
    run = Runner()
    run.at(0, high=3.45, low=3.44, current=4.0)
    limits = run.at(500, **{"current": 4.0, "soc": 95.0, **interruption})
    assert limits.charge_state == "absorption" and has(limits, why)
    run.at(501, high=3.45, low=3.44, current=4.0)
    assert run.at(1400, high=3.45, low=3.44, current=4.0).charge_state == "absorption"
    assert run.at(1401, high=3.45, low=3.44, current=4.0).charge_state == "float"


@pytest.mark.parametrize(
    ("rest", "state", "why"),
    [
        ({"high": 3.34, "low": 3.33, "soc": 90.0}, "float", None),
        ({"high": 3.34, "low": 3.33, "soc": 89.9}, "bulk", "SOC 89.9 % below rebulk_below_soc 90 %"),
        ({"high": 3.34, "low": 3.30, "soc": 95.0}, "float", None),
        (
            {"high": 3.34, "low": 3.299, "soc": 95.0},
            "bulk",
            "lowest cell 3.299 V below rebulk_below_cell_v 3.3 V",
        ),
    ],
)
def test_rebulk_on_soc_and_on_lowest_cell(rest: dict[str, Any], state: str, why: str | None) -> None:
    run = Runner()
    began = to_float(run)
    limits = run.at(began + 3600, current=-20.0, **rest)
    assert limits.charge_state == state
    assert limits.charge_voltage_v == (FLOAT_CVL if state == "float" else BULK_CVL)
    if why is not None:
        assert run.memory.events == (f"charge state float -> bulk: {why}",)
        assert has(limits, "CVL 55.20 V: bulk since 0 s")


def test_a_drifting_soc_does_not_end_absorption_while_the_pack_is_at_the_cvl() -> None:
    run = Runner()
    run.at(0, high=3.45, low=3.44, current=4.0, soc=70)  # a JK whose SOC drifted down
    limits = run.at(900, high=3.45, low=3.44, current=2.0, soc=70)
    assert limits.charge_state == "float"


def test_the_runaway_cell_lowers_the_cvl_and_releases_it() -> None:
    run = Runner()
    cells = [3.44] * 16
    cells[6] = 3.53  # cell 7
    reading = BatteryReading("t", 0.0, round(sum(cells), 3), 3.0, 97.0, tuple(cells), (20.0,))
    limits = run.at(0, reading)
    assert limits.charge_voltage_v == pytest.approx(BULK_CVL - 16 * 0.03)
    assert has(limits, "CVL 54.72 V: cell 7 at 3.530 V above target 3.50 V, lowered by 16 x 0.030 V")
    assert has(limits, "CVL 55.20 V: absorption since 0 s")  # the state's CVL, before the control
    assert run.at(10, high=3.50, low=3.44, current=3.0).charge_voltage_v == BULK_CVL  # at target: released
    far = run.at(20, high=3.60, low=3.44, current=3.0)
    assert far.charge_voltage_v == FLOAT_CVL  # 55.2 - 1.6 = 53.6 would be below float
    assert has(far, "CVL 54.00 V: cell 16 at 3.600 V above target 3.50 V, not below float")
    assert run.at(30, high=3.46, low=3.44, current=3.0).charge_voltage_v == BULK_CVL


def test_the_runaway_cell_in_float_keeps_float() -> None:
    run = Runner()
    began = to_float(run)
    limits = run.at(began + 10, high=3.52, low=3.44, current=1.0)
    assert (limits.charge_state, limits.charge_voltage_v) == ("float", FLOAT_CVL)
    assert has(limits, "cell 16 at 3.520 V above target 3.50 V, not below float")


def test_the_reported_soc_is_capped_until_float_then_100_then_follows_the_bms_after_rebulk() -> None:
    run = Runner()
    sent: list[tuple[str | None, float | None]] = []

    def at(t: float, **kw: Any) -> Limits:
        limits = run.at(t, **kw)
        sent.append((limits.charge_state, limits.reported_soc_pct))
        return limits

    at(0, high=3.35, low=3.33, current=50, soc=80)
    at(100, high=3.38, low=3.36, current=50, soc=99)  # the JK says 99 % (its SOC drifted up)
    at(200, high=3.38, low=3.36, current=50, soc=100)
    capped = at(600, high=3.45, low=3.44, current=4, soc=100)
    assert has(capped, "SOC 98 % to the inverter: BMS 100 % capped until float (reported_soc_max)")
    full = at(1500, high=3.45, low=3.44, current=2, soc=100)
    assert has(full, "SOC 100 % to the inverter: float (BMS 100 %)")
    at(5000, high=3.36, low=3.35, current=-30, soc=93)  # float holds 100 % while the SOC falls
    at(9000, high=3.33, low=3.32, current=-30, soc=89)  # rebulk
    at(9500, high=3.32, low=3.31, current=-30, soc=85)
    assert sent == [
        ("bulk", 80),
        ("bulk", 98),
        ("bulk", 98),
        ("absorption", 98),
        ("float", 100),
        ("float", 100),
        ("bulk", 89),
        ("bulk", 85),
    ]


def test_reported_soc_max_is_configurable() -> None:
    limits = once(pack(3.30, soc=97), LadderConfig(reported_soc_max=95))
    assert limits.reported_soc_pct == 95


def test_charge_states_off_keeps_a_fixed_cvl_and_the_bms_soc() -> None:
    run = Runner(LadderConfig(charge_states=False))
    for t in range(0, 3000, 300):
        limits = run.at(t, high=3.45, low=3.44, current=2.0, soc=100)
        assert (limits.charge_voltage_v, limits.reported_soc_pct, limits.charge_state) == (
            BULK_CVL,
            None,
            None,
        )
    assert has(limits, "CVL 55.20 V: 3.45 V x 16 cells")
    assert run.at(3000, high=3.53, low=3.44).charge_voltage_v == pytest.approx(54.72)  # runaway still acts


def test_an_old_reading_keeps_the_state_and_its_cvl() -> None:
    run = Runner()
    began = to_float(run)
    old = pack(3.33, low=3.29, t=began + 100, soc=50)  # would rebulk if it were fresh
    limits = run.at(began + 200, old)
    assert (limits.charge_current_a, limits.discharge_current_a) == (0, 0)
    assert (limits.charge_state, limits.charge_voltage_v, limits.reported_soc_pct) == (
        "float",
        FLOAT_CVL,
        100,
    )
    assert run.memory.charge_state.state == "float"


def test_transitions_are_logged_once_each() -> None:
    run = Runner()
    events = []
    for t, high, low in ((0, 3.35, 3.33), (10, 3.45, 3.44), (11, 3.45, 3.44), (910, 3.45, 3.44)):
        run.at(t, high=high, low=low, current=50 if t == 0 else 4)
        events.append(run.memory.events)
    assert events == [
        (),
        ("charge state bulk -> absorption: pack 55.12 V >= 54.40 V",),
        (),
        ("charge state absorption -> float: 4.0 A and spread 0.010 V held 15 min",),
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (3599, "59 min"), (7800, "2 h 10 min"), (93600, "1 d 2 h")],
)
def test_durations_read_like_a_person_says_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text
