"""``gateway limit_ladder explain``: options, JSON on stdin, sequences, config errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager


def invoke(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    import limit_ladder

    pm = make_plugin_manager(entry_points=False)
    pm.register(limit_ladder, name="limit_ladder")
    result = CliRunner().invoke(build_app(pm), ["limit_ladder", "explain", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_explain_with_options_prints_limits_and_reasons() -> None:
    code, out, _ = invoke(["--cells", "3.48", "--cell-count", "16"])
    assert code == 0
    assert "charge     15 A" in out
    assert "- charge 15 A: highest cell 3.480 V >= 3.47 V" in out
    assert "- CVL 55.20 V: absorption since 0 s (3.45 V x 16 cells)" in out
    assert "one reading has no history" in out


def test_explain_json_output_with_every_input() -> None:
    code, out, _ = invoke(
        [
            "--cells", "3.185,3.203,3.19,3.19",
            "--soc", "15", "--current", "-0.69", "--temps", "16,16",
            "--bms-charge-limit", "30", "--alarm", "low_capacity", "--discharge-off", "--json",
        ]
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["charge_current_a"] == 30.0
    assert data["discharge_current_a"] == 0.0
    assert data["flags"] == ["CHARGE"]
    assert "discharge 0 A: the BMS discharge MOSFET is off" in data["reasons"]
    assert data["reading"]["cells"] == 4


def test_explain_reads_a_json_reading_from_stdin() -> None:
    reading = {"cell_voltages_v": [3.56] + [3.40] * 15, "soc_pct": 99, "temperatures_c": [20.0]}
    code, out, _ = invoke(["--json"], json.dumps(reading))
    assert code == 0
    assert json.loads(out)["charge_current_a"] == 0.0


def test_explain_replays_a_sequence_showing_the_hold() -> None:
    cells_high = [3.56] + [3.40] * 15
    cells_rest = [3.35] * 16
    seq = [
        {"cell_voltages_v": cells_high, "taken_at_s": 0, "temperatures_c": [20]},
        {"cell_voltages_v": cells_rest, "taken_at_s": 60, "temperatures_c": [20]},
        {"cell_voltages_v": cells_rest, "taken_at_s": 2700, "temperatures_c": [20]},
    ]
    code, out, _ = invoke(["--json"], json.dumps(seq))
    assert code == 0
    rows = json.loads(out)
    assert [row["charge_current_a"] for row in rows] == [0.0, 0.0, 60.0]
    assert any("re-rise needs 2700 s since the cut (60 s so far)" in r for r in rows[1]["reasons"])
    code, out, _ = invoke([], json.dumps(seq))
    assert "[2] t = 60 s" in out


def test_missing_temperatures_in_json_mean_no_charging() -> None:
    code, out, _ = invoke(["--json"], json.dumps({"cell_voltages_v": [3.3] * 4}))
    assert code == 0
    assert json.loads(out)["charge_current_a"] == 0.0


def test_explain_honours_config_and_set(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "gw.toml"  # type: ignore[operator]
    path.write_text("[limit_ladder]\ncharge_ladder = [[3.44, 0.0], [3.20, 60.0]]\n[jk_uart]\nport = 'x'\n")
    code, out, _ = invoke(
        ["--config", str(path), "--set", "limit_ladder.max_charge_current=40", "--cells", "3.3"]
    )
    assert code == 0
    assert "charge     40 A" in out
    code, out, _ = invoke(["--config", str(path), "--cells", "3.45"])
    assert "charge     0 A" in out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--set", "limit_ladder.charge_ladder=[[3.4, 1], [3.5, 2]]", "--cells", "3.3"],
            None,
            "[limit_ladder]",
        ),
        (["--cells", "3.3,abc"], None, "--cells: expected comma-separated numbers"),
        (["--cells", "3.3,3.4", "--cell-count", "4"], None, "--cell-count repeats one voltage"),
        ([], "not json", "stdin is not JSON"),
        ([], json.dumps({"cells": [3.3]}), "unknown key(s) cells"),
        ([], json.dumps({"cell_voltages_v": []}), "cell_voltages_v must be a non-empty list"),
        ([], json.dumps({"cell_voltages_v": [3.3], "alarms": ["fire"]}), "reading 1:"),
        ([], "[]", "empty list"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], stdin: str | None, message: str) -> None:
    code, _, err = invoke(args, stdin if stdin is not None else "")
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_implausible_reading_shows_the_fail_safe() -> None:
    code, out, _ = invoke(["--cells", "3.3,0.5", "--json"])
    assert code == 0
    data = json.loads(out)
    assert (data["charge_current_a"], data["discharge_current_a"]) == (0.0, 0.0)
    assert data["fault"] == "implausible_reading"
