"""A user pipes ``gateway daly decode`` of a whole poll into ``gateway limit_ladder explain``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager

from .test_reference_frames import mppsolar_poll


def test_the_decode_json_of_a_real_16_cell_poll_explains_to_60_a_both_ways():
    app = build_app(make_plugin_manager())
    decoded = CliRunner().invoke(app, ["daly", "decode", mppsolar_poll().hex()])
    assert decoded.exit_code == 0, decoded.output
    explained = CliRunner().invoke(app, ["limit_ladder", "explain", "--json"], input=decoded.stdout)
    assert explained.exit_code == 0, explained.output
    result = json.loads(explained.stdout)
    assert result["reading"]["cells"] == 16 and result["reading"]["current_a"] == -2.1
    assert result["reading"]["temperatures_c"] == [15.0]
    # lowest cell 3.324 V >= 3.30 V and highest 3.327 V: both ladders give their ceiling, 60 A
    assert (result["charge_current_a"], result["discharge_current_a"]) == (60.0, 60.0)
    assert (result["charge_voltage_v"], result["discharge_voltage_v"]) == (55.2, 50.4)


def test_a_cell_count_that_contradicts_the_cells_is_refused_by_explain():
    app = build_app(make_plugin_manager())
    doc = {"cell_voltages_v": [3.3, 3.3, 3.3, 3.3], "cell_count": 16, "voltage_v": 13.2}
    explained = CliRunner().invoke(app, ["limit_ladder", "explain"], input=json.dumps(doc))
    assert explained.exit_code == 2 and "cell_count 16 but 4 cell voltages" in explained.stderr
