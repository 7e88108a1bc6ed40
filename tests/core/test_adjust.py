"""The gateway_adjust_limits hook can only lower the policy's limits, and fails safe."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway_core import hookimpl
from gateway_core.model import Fault, LimitFlag, Limits
from gateway_core.runner import build_gateway, run_gateway
from tests.core.helpers import ScriptedPlugins, manager_with
from tests.fakes import FakeClock

RUN = ["gateway.source=fake", "gateway.policy=fixed", "gateway.sink=memory"]


def run_with(adjuster: object, cycles: int = 2) -> list[Limits]:
    plugins = ScriptedPlugins()
    gateway = build_gateway(
        manager_with(plugins, adjuster),
        config_path=None,
        overrides=RUN,
        clock=FakeClock(),
        threaded=False,
        max_cycles=cycles,
    )
    run_gateway(gateway, install_signals=False)
    return plugins.sinks[0].limits


def test_hook_gateway_adjust_limits():
    class Override:
        @hookimpl
        def gateway_adjust_limits(self, limits):
            return Limits(
                10.0, limits.discharge_current_a, flags=limits.flags, reasons=("charge 10 A: user override",)
            )

    limits = run_with(Override())
    assert limits[0].charge_current_a == 10.0 and limits[0].discharge_current_a == 60.0
    assert "charge 10 A: user override" in limits[0].reasons
    assert LimitFlag.CHARGE in limits[0].flags


def test_an_adjuster_cannot_raise_a_limit():
    class Greedy:
        @hookimpl
        def gateway_adjust_limits(self, limits, reading, state):
            return Limits(
                500.0, 500.0, 60.0, 40.0, LimitFlag.CHARGE | LimitFlag.DISCHARGE | LimitFlag.FORCE_CHARGE
            )

    first = run_with(Greedy())[0]
    assert (first.charge_current_a, first.discharge_current_a) == (50.0, 60.0)
    assert (first.charge_voltage_v, first.discharge_voltage_v) == (55.2, 50.4)
    assert LimitFlag.FORCE_CHARGE not in first.flags


def test_an_adjuster_that_raises_fails_safe():
    class Broken:
        @hookimpl
        def gateway_adjust_limits(self, limits):
            raise RuntimeError("override store corrupt")

    limits = run_with(Broken())
    assert limits[0].fault is Fault.POLICY_ERROR and limits[0].is_stop
    assert "override store corrupt" in limits[0].reasons[0]


currents = st.floats(min_value=0, max_value=1000, allow_nan=False)
volts = st.none() | st.floats(min_value=0, max_value=100, allow_nan=False)
flags = st.sampled_from(
    [LimitFlag.NONE, LimitFlag.CHARGE, LimitFlag.DISCHARGE, LimitFlag.CHARGE | LimitFlag.DISCHARGE]
)


@st.composite
def limits_st(draw):
    charge, discharge, flag = draw(currents), draw(currents), draw(flags)
    if charge == 0:
        flag &= ~LimitFlag.CHARGE
    if discharge == 0:
        flag &= ~LimitFlag.DISCHARGE
    return Limits(charge, discharge, draw(volts), draw(volts), flag)


@given(limits_st(), limits_st())
def test_restrict_never_exceeds_either_side(a, b):
    r = a.restrict(b)
    assert r.charge_current_a <= min(a.charge_current_a, b.charge_current_a)
    assert r.discharge_current_a <= min(a.discharge_current_a, b.discharge_current_a)
    assert r.flags & ~(a.flags & b.flags) == LimitFlag.NONE
    if a.charge_voltage_v is not None and b.charge_voltage_v is not None:
        assert r.charge_voltage_v == min(a.charge_voltage_v, b.charge_voltage_v)
