"""Caps, voltage limits, temperature windows, BMS MOSFETs and alarms."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.model import Alarm, GatewayState
from limit_ladder.config import LadderConfig
from limit_ladder.policy import LadderMemory, decide
from limit_ladder.safety import ALARM_STOPS

from .helpers import Runner, has, once, pack


def test_voltage_limits_are_per_cell_times_cell_count() -> None:
    limits = once(pack(3.30))
    assert (limits.charge_voltage_v, limits.discharge_voltage_v) == (55.2, 50.4)
    assert "CVL 55.20 V: bulk since 0 s (3.45 V x 16 cells)" in limits.reasons
    assert "DVL 50.40 V: 3.15 V x 16 cells" in limits.reasons
    eight = once(pack(3.30, n=8), LadderConfig(charge_voltage_per_cell=3.5, discharge_voltage_per_cell=3.0))
    assert (eight.charge_voltage_v, eight.discharge_voltage_v) == (28.0, 24.0)


def test_absolute_voltage_limits_override_per_cell() -> None:
    limits = once(pack(3.30), LadderConfig(charge_voltage=55.0, discharge_voltage=50.5))
    assert (limits.charge_voltage_v, limits.discharge_voltage_v) == (55.0, 50.5)
    assert "CVL 55.00 V: bulk since 0 s (charge_voltage)" in limits.reasons
    assert "DVL 50.50 V: discharge_voltage" in limits.reasons


def test_configured_ceilings_cap_both_limits() -> None:
    limits = once(pack(3.30), LadderConfig(max_charge_current=40.0, max_discharge_current=25.0))
    assert (limits.charge_current_a, limits.discharge_current_a) == (40.0, 25.0)
    assert has(limits, "charge capped at 40 A by max_charge_current")
    assert has(limits, "discharge capped at 25 A by max_discharge_current")


def test_bms_over_current_protection_caps_when_reported() -> None:
    reading = pack(3.203, low=3.185, bms_charge_current_limit_a=30.0, bms_discharge_current_limit_a=45.0)
    limits = once(reading)
    assert (limits.charge_current_a, limits.discharge_current_a) == (30.0, 45.0)
    assert "charge capped at 30 A by the BMS charge over-current protection" in limits.reasons
    ignored = once(reading, LadderConfig(respect_bms_limits=False))
    assert (ignored.charge_current_a, ignored.discharge_current_a) == (60.0, 50.0)


def test_worked_example_from_the_reference_frame() -> None:
    """16 cells 3.185-3.203 V, BMS OCP 60/30 A: DCL 50 A (>= 3.10 V), CCL 60 A capped to 30 A."""
    limits = once(pack(3.203, low=3.185, bms_charge_current_limit_a=30.0, bms_discharge_current_limit_a=60.0))
    assert (limits.charge_current_a, limits.discharge_current_a) == (30.0, 50.0)
    assert (limits.charge_voltage_v, limits.discharge_voltage_v) == (55.2, 50.4)


@pytest.mark.parametrize(
    ("enabled", "kind"), [({"charge_enabled": False}, "charge"), ({"discharge_enabled": False}, "discharge")]
)
def test_mosfet_off_zeroes_its_limit(enabled: dict[str, Any], kind: str) -> None:
    limits = once(pack(3.30, **enabled))
    assert getattr(limits, f"{kind}_current_a") == 0
    other = "discharge" if kind == "charge" else "charge"
    assert getattr(limits, f"{other}_current_a") == 60
    assert f"{kind} 0 A: the BMS {kind} MOSFET is off" in limits.reasons


EXPECTED_STOPS = {
    Alarm.CELL_OVERVOLTAGE: (True, False),
    Alarm.PACK_OVERVOLTAGE: (True, False),
    Alarm.CELL_UNDERVOLTAGE: (False, True),
    Alarm.PACK_UNDERVOLTAGE: (False, True),
    Alarm.CHARGE_OVERCURRENT: (True, False),
    Alarm.DISCHARGE_OVERCURRENT: (False, True),
    Alarm.BATTERY_UNDERTEMPERATURE: (True, False),
    Alarm.BATTERY_OVERTEMPERATURE: (True, True),
    Alarm.MOSFET_OVERTEMPERATURE: (True, True),
    Alarm.BOX_OVERTEMPERATURE: (True, True),
    Alarm.CELL_IMBALANCE: (True, True),
    Alarm.CELL_ZERO_VOLTAGE: (True, True),
    Alarm.BMS_INTERNAL: (True, True),
    Alarm.LOW_CAPACITY: (False, False),
}


def test_every_alarm_has_an_expectation() -> None:
    assert set(EXPECTED_STOPS) == set(Alarm)
    assert {a for a, (c, d) in EXPECTED_STOPS.items() if c or d} == set(ALARM_STOPS)


@pytest.mark.parametrize(("alarm", "stops"), sorted(EXPECTED_STOPS.items()))
def test_alarm_zeroes_the_matching_limit(alarm: Alarm, stops: tuple[bool, bool]) -> None:
    limits = once(pack(3.30, alarms=frozenset({alarm})))
    assert (limits.charge_current_a == 0, limits.discharge_current_a == 0) == stops
    if any(stops):
        assert has(limits, f"0 A: BMS alarm {alarm.value.replace('_', ' ')}")


CHARGE_TEMPS = [
    ((-0.1, 20.0), 0.0),
    ((0.0, 20.0), 10.0),
    ((4.9, 20.0), 10.0),
    ((5.0, 20.0), 30.0),
    ((9.9, 20.0), 30.0),
    ((10.0, 20.0), 60.0),
    ((20.0, 45.0), 60.0),
    ((20.0, 45.1), 30.0),
    ((20.0, 50.0), 30.0),
    ((20.0, 50.1), 0.0),
    ((), 0.0),
]


@pytest.mark.parametrize(("temps", "amps"), CHARGE_TEMPS)
def test_charge_temperature_window_and_derating(temps: tuple[float, ...], amps: float) -> None:
    assert once(pack(3.30, temps=temps)).charge_current_a == amps


@pytest.mark.parametrize(
    ("temps", "amps"), [((-20.1,), 0.0), ((-20.0,), 60.0), ((60.0,), 60.0), ((60.1,), 0.0), ((), 60.0)]
)
def test_discharge_temperature_window(temps: tuple[float, ...], amps: float) -> None:
    assert once(pack(3.30, temps=temps)).discharge_current_a == amps


def test_temperature_reasons_name_the_probe() -> None:
    assert "charge 0 A: T1 -2.0 °C below 0 °C" in once(pack(3.30, temps=(-2.0, 3.0))).reasons
    assert "charge derated to 10 A: T2 3.0 °C below 5 °C" in once(pack(3.30, temps=(6.0, 3.0))).reasons
    assert has(once(pack(3.30, temps=())), "charge 0 A: 0 battery temperature probes reported, 1 needed")


def test_missing_probe_is_unsafe_for_charging() -> None:
    limits = once(pack(3.30, temps=(20.0,)), LadderConfig(min_temperature_probes=2))
    assert limits.charge_current_a == 0
    assert has(limits, "1 battery temperature probe reported, 2 needed")


def test_temperature_stop_ends_only_inside_the_margin() -> None:
    run = Runner()
    assert run.at(0, temps=(-1.0,)).charge_current_a == 0
    still = run.at(1, temps=(1.0,))
    assert still.charge_current_a == 0
    assert has(still, "T1 1.0 °C not yet back above 2 °C")
    assert run.at(2, temps=(2.0,)).charge_current_a == 10
    assert run.at(3, temps=(1.0,)).charge_current_a == 10  # inside the window again: no margin


def test_an_old_reading_gives_zero_as_defence_in_depth() -> None:
    reading = pack(3.30, t=0.0)
    limits, _ = decide(reading, LadderMemory(), GatewayState(31.0, 1), LadderConfig())
    assert (limits.charge_current_a, limits.discharge_current_a) == (0, 0)
    assert has(limits, "the reading is 31.0 s old")


def test_oscillation_can_be_switched_off() -> None:
    run = Runner(LadderConfig(oscillation=False))
    seen = [run.at(t, current=15.0 if t % 4 < 2 else -15.0) for t in range(60)]
    assert all(lim.charge_current_a == 60 for lim in seen)
