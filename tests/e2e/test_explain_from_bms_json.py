"""A user pipes `gateway jk_uart decode` into `gateway limit_ladder explain` (PROTOCOLS worked example)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager
from tests.plugins.jk_uart.helpers import load_frames


def test_the_decode_json_of_a_real_16_cell_reply_explains_to_30_a_charge_and_50_a_discharge():
    app = build_app(make_plugin_manager())
    frame = load_frames()["reply_16s_lfp_bd6a17s6p_fw7.1.0H"]
    decoded = CliRunner().invoke(app, ["jk_uart", "decode", frame.hex()])
    assert decoded.exit_code == 0, decoded.output
    explained = CliRunner().invoke(app, ["limit_ladder", "explain", "--json"], input=decoded.output)
    assert explained.exit_code == 0, explained.output
    result = json.loads(explained.output)
    result = result[0] if isinstance(result, list) else result
    # lowest cell 3.185 V >= 3.10 V -> 50 A; highest 3.203 V -> 60 A, capped by the BMS's 30 A charge OCP
    assert (result["charge_current_a"], result["discharge_current_a"]) == (30.0, 50.0)
    assert (result["charge_voltage_v"], result["discharge_voltage_v"]) == (55.2, 50.4)
    assert any("over-current protection" in reason for reason in result["reasons"])
