"""Absolute voltages are checked against the pack (issue 23 item 5): 552 V on 16 cells stays off the bus."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import PolicyError
from gateway_core.model import Fault, GatewayState
from gateway_core.plugins import make_plugin_manager
from limit_ladder.config import LadderConfig
from limit_ladder.policy import LadderMemory, LadderPolicy, decide
from tests.fakes import FakeClock, FakeSink, FakeSource, make_reading

from .helpers import once, pack


def test_a_cvl_of_552_v_on_16_cells_never_reaches_the_sink() -> None:
    """``--set limit_ladder.charge_voltage=552`` (a missing decimal point): the cycle fails safe."""
    clock = FakeClock()
    sink = FakeSink(clock)
    engine = Engine(
        FakeSource(clock, [], default=lambda: make_reading(clock)),
        LadderPolicy(LadderConfig(charge_voltage=552.0)),
        sink,
        names=PluginNames("fake", "limit_ladder", "fake"),
        clock=clock,
    )
    engine.start()
    result = engine.cycle()
    assert result.limits.fault is Fault.POLICY_ERROR
    assert (result.limits.charge_current_a, result.limits.discharge_current_a) == (0, 0)
    assert all(limits.charge_voltage_v is None for limits in sink.limits)
    assert "charge_voltage = 552 V is 34.5 V per cell for 16 cells" in result.limits.reasons[0]


@pytest.mark.parametrize(
    ("config", "cells", "message"),
    [
        ({"charge_voltage": 552.0}, 16, "charge_voltage = 552 V is 34.5 V per cell for 16 cells"),
        ({"charge_voltage": 55.2}, 8, "charge_voltage = 55.2 V is 6.9 V per cell for 8 cells"),
        ({"charge_voltage": 27.6}, 16, "charge_voltage = 27.6 V is 1.73 V per cell for 16 cells"),
        ({"discharge_voltage": 504.0}, 16, "discharge_voltage = 504 V is 31.5 V per cell"),
        ({"discharge_voltage": 5.0}, 16, "discharge_voltage = 5 V is 0.312 V per cell"),
        ({"charge_voltage": 53.0}, 16, "float 54 V (3.375 V x 16 cells) is not below charge_voltage = 53 V"),
        ({"discharge_voltage": 54.5}, 16, "DVL 54.5 V (discharge_voltage) is not below the CVL 54 V"),
        ({"cells": 16}, 15, "the reading has 15 cells, limit_ladder.cells = 16"),
    ],
)
def test_implausible_voltages_for_the_pack_raise_policy_error(
    config: dict[str, Any], cells: int, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        decide(pack(3.30, n=cells), LadderMemory(), GatewayState(0.0, 1), LadderConfig(**config))
    assert message in str(info.value)


def test_plausible_absolute_voltages_still_work() -> None:
    limits = once(pack(3.30), LadderConfig(charge_voltage=55.0, discharge_voltage=50.5, cells=16))
    assert (limits.charge_voltage_v, limits.discharge_voltage_v) == (55.0, 50.5)
    four = once(pack(3.30, n=4), LadderConfig(charge_voltage=13.8, discharge_voltage=12.0))
    assert (four.charge_voltage_v, four.discharge_voltage_v) == (13.8, 12.0)


def run_cli(*sets: str) -> tuple[int, str]:
    args = ["run", "--source", "jk_uart", "--sink", "pylontech", "--cycles", "1"]
    for item in sets:
        args += ["--set", item]
    result = CliRunner().invoke(build_app(make_plugin_manager()), args)
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ("limit_ladder.charge_voltage=552", "limit_ladder.cells=16"),
            "charge_voltage = 552 V is 34.5 V per cell for 16 cells; a plausible cell is 2-4.5 V",
        ),
        (("limit_ladder.discharge_voltage=5", "limit_ladder.cells=16"), "discharge_voltage = 5 V is 0.312 V"),
        (
            ("limit_ladder.charge_voltage=53", "limit_ladder.cells=16"),
            "float_voltage_per_cell = 3.375 V must be below charge_voltage / cells = 3.3125 V",
        ),
    ],
)
def test_with_cells_configured_the_start_is_refused_in_one_line(sets: tuple[str, ...], message: str) -> None:
    code, err = run_cli(*sets, "jk_uart.port=jksim://?cells=16", "pylontech.interface=virtual")
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
