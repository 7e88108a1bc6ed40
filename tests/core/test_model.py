"""The data model refuses values that could carry permission to charge where none may be."""

from __future__ import annotations

import math

import pytest

from gateway_core.model import Fault, LimitFlag, Limits
from tests.fakes import make_reading


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"charge_current_a": 0.0, "discharge_current_a": 0.0, "flags": LimitFlag.CHARGE},
            "CHARGE requested",
        ),
        ({"charge_current_a": 5.0, "discharge_current_a": 0.0, "flags": LimitFlag.DISCHARGE}, "DISCHARGE"),
        ({"charge_current_a": -1.0, "discharge_current_a": 0.0}, "must not be negative"),
        ({"charge_current_a": math.nan, "discharge_current_a": 0.0}, "finite"),
        ({"charge_current_a": 10.0, "discharge_current_a": 0.0, "fault": Fault.STALE_READING}, "stop limits"),
        (
            {"charge_current_a": 0.0, "discharge_current_a": 0.0, "flags": LimitFlag.FORCE_CHARGE},
            "force or full",
        ),
        (
            {
                "charge_current_a": 0.0,
                "discharge_current_a": 50.0,
                "flags": LimitFlag.DISCHARGE | LimitFlag.FULL_CHARGE,
            },
            "force or full",
        ),
    ],
)
def test_limits_refuse_contradictions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Limits(**kwargs)


def test_restrict_drops_force_and_full_charge_with_the_charge_limit():
    base = Limits(30.0, 50.0, flags=LimitFlag.CHARGE | LimitFlag.DISCHARGE | LimitFlag.FORCE_CHARGE)
    lowered = base.restrict(Limits(0.0, 50.0, flags=LimitFlag.DISCHARGE))
    assert lowered.charge_current_a == 0.0 and lowered.flags == LimitFlag.DISCHARGE


def test_reading_refuses_nan_and_lists():
    with pytest.raises(ValueError, match="cell_voltages_v"):
        make_reading(cell_voltages_v=(3.3, math.nan))
    with pytest.raises(TypeError, match="tuples"):
        make_reading(cell_voltages_v=[3.3, 3.3])
