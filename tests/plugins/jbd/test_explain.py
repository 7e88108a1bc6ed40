"""A user pipes ``gateway jbd decode`` into ``gateway limit_ladder explain``."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager

from .helpers import FRAMES


def explain(frames: list[bytes], *extra: str) -> dict[str, Any]:
    app = build_app(make_plugin_manager())
    decoded = CliRunner().invoke(app, ["jbd", "decode", *(f.hex(" ") for f in frames)])
    assert decoded.exit_code == 0, decoded.output
    explained = CliRunner().invoke(app, ["limit_ladder", "explain", "--json", *extra], input=decoded.stdout)
    assert explained.exit_code == 0, explained.output
    result: dict[str, Any] = json.loads(explained.stdout)
    return result


def test_the_8s_overkill_capture_explains_to_60_a_both_ways():
    result = explain([FRAMES["basic_8s_2ntc_sp10s009"], FRAMES["cells_8s_sp10s009"]])
    assert (result["charge_current_a"], result["discharge_current_a"]) == (60.0, 60.0)
    assert (result["charge_voltage_v"], result["discharge_voltage_v"]) == (27.6, 25.2)  # 8 x 3.45 / 3.15 V
    assert result["reading"]["temperatures_c"] == [23.4, 23.4] and result["reading"]["cells"] == 8


def test_a_charge_mosfet_switched_off_by_the_bms_means_no_charging():
    nmc = [
        "--set", "limit_ladder.charge_voltage_per_cell=4.1",
        "--set", "limit_ladder.charge_ladder=[[4.2, 0.0]]",
        "--set", "limit_ladder.charge_below_a=5",
        "--set", "limit_ladder.charge_rerise_below_v=4.0",
    ]  # fmt: skip
    result = explain([FRAMES["basic_4s_3ntc_mosfet_lock"], FRAMES["cells_4s_mosfet_lock"]], *nmc)
    assert result["charge_current_a"] == 0.0 and result["discharge_current_a"] > 0
    assert "charge 0 A: the BMS charge MOSFET is off" in result["reasons"]
