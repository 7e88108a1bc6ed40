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


def test_explain_shows_the_charge_state_and_the_soc_sent() -> None:
    code, out, _ = invoke(["--cells", "3.45", "--cell-count", "16", "--soc", "100", "--current", "3"])
    assert code == 0
    assert "  state      absorption for 0 s" in out
    assert "  SOC sent   98 % (BMS 100 %)" in out
    code, out, _ = invoke(["--cells", "3.45", "--cell-count", "16", "--json"])
    data = json.loads(out)
    assert (data["charge_state"], data["charge_state_for_s"], data["reported_soc_pct"]) == (
        "absorption",
        0.0,
        50.0,
    )


def test_explain_replays_a_charge_through_the_states() -> None:
    def reading(t: float, cell: float, spread: float, current: float, soc: float) -> dict[str, object]:
        cells = [cell] * 15 + [round(cell + spread, 3)]
        return {
            "cell_voltages_v": cells,
            "taken_at_s": t,
            "current_a": current,
            "soc_pct": soc,
            "temperatures_c": [20],
        }

    seq = [
        reading(0, 3.33, 0.02, 50, 90),
        reading(600, 3.44, 0.01, 4, 99),
        reading(1500, 3.44, 0.01, 2, 100),
        reading(9300, 3.36, 0.01, -20, 95),
        reading(20000, 3.32, 0.01, -20, 85),
    ]
    code, out, _ = invoke(["--json"], json.dumps(seq))
    assert code == 0
    rows = json.loads(out)
    assert [(r["charge_state"], r["charge_voltage_v"], r["reported_soc_pct"]) for r in rows] == [
        ("bulk", 55.2, 90),
        ("absorption", 55.2, 98),
        ("float", 54.0, 100),
        ("float", 54.0, 100),
        ("bulk", 55.2, 85),
    ]
    assert [r["charge_state_for_s"] for r in rows] == [0, 0, 0, 7800, 0]
    assert "CVL 54.00 V: float since 2 h 10 min (3.375 V x 16 cells)" in rows[3]["reasons"]
    code, out, _ = invoke([], json.dumps(seq))
    assert "[4] t = 9300 s" in out and "  state      float for 2 h 10 min" in out


def test_explain_replays_grid_power_swings() -> None:
    seq = [
        {
            "cell_voltages_v": [3.3] * 16,
            "taken_at_s": t,
            "temperatures_c": [20],
            "grid_power_w": 600 if t % 2 else -600,
        }
        for t in range(4)
    ]
    code, out, _ = invoke(["--json", "--set", 'limit_ladder.oscillation_input="grid_power"'], json.dumps(seq))
    assert code == 0
    rows = json.loads(out)
    assert [r["charge_current_a"] for r in rows] == [60, 60, 30, 30]
    assert "charge 30 A: grid power swung ±600 W 2 times in 20 s" in rows[2]["reasons"]


def test_explain_shows_an_implausible_absolute_cvl_as_the_fail_safe() -> None:
    code, out, _ = invoke(
        ["--cells", "3.3", "--cell-count", "16", "--set", "limit_ladder.charge_voltage=552", "--json"]
    )
    assert code == 0
    data = json.loads(out)
    assert data["fault"] == "policy_error" and data["charge_voltage_v"] is None
    assert "charge_voltage = 552 V is 34.5 V per cell for 16 cells" in data["reasons"][0]


HUGE = "1" + "0" * 400


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--cells", "3.3", "--cell-count", "16", "--current", HUGE],
            None,
            "current_a must be a finite number",
        ),
        (["--cells", f"3.3,{HUGE}"], None, "must be a finite number, not inf"),
        ([], f'{{"cell_voltages_v": [3.3, 3.3], "current_a": {HUGE}}}', "reading 1: a number is too large"),
        ([], f'{{"cell_voltages_v": [{HUGE}]}}', "reading 1: a number is too large"),
        (
            [],
            f'[{{"cell_voltages_v": [3.3], "grid_power_w": {HUGE}}}]',
            "grid_power_w must be a finite number",
        ),
        (
            [],
            '{"cell_voltages_v": [3.3], "soc_pct": 1' + "0" * 5000 + "}",
            "stdin is not JSON: Exceeds the limit",
        ),
        ([], "[" * 100000, "stdin is not JSON: maximum recursion depth"),
        (
            [],
            '[{"cell_voltages_v": [3.3], "grid_power_w": "lots"}]',
            "grid_power_w must be a number of watts",
        ),
    ],
)
def test_huge_numbers_give_one_line_and_exit_2(args: list[str], stdin: str | None, message: str) -> None:
    """Issue 23 item 10: ``limit_ladder explain`` on a 400-digit current ended in a traceback."""
    code, out, err = invoke(args, stdin if stdin is not None else "")
    assert code == 2, out
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
