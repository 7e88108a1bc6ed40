"""``gateway jbd decode|read|simulate`` through the real CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner, Result

from gateway_core.cli import build_app
from gateway_core.clock import MonotonicClock
from gateway_core.plugins import make_plugin_manager
from gateway_core.roles import PluginContext
from jbd.config import JbdConfig
from jbd.source import JbdSource

from .helpers import FRAMES

BASIC = FRAMES["basic_11s_2ntc_charging_balancing"]
CELLS = FRAMES["cells_11s"]
NAME = FRAMES["name_sp15s001"]
#: The keys the issue names, then the extras for remaining capacity, balance and protection bits.
KEYS = [
    "voltage_v", "current_a", "soc_pct", "cell_voltages_v", "temperatures_c", "charge_enabled",
    "discharge_enabled", "cycle_count", "capacity_ah", "cell_count", "alarms",
]  # fmt: skip
EXTRAS = ["remaining_capacity_ah", "balancing_cells", "protection_bits"]


def run(args: list[str], stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(build_app(make_plugin_manager()), ["jbd", *args], input=stdin)


def test_decode_basic_and_cells_prints_exactly_the_documented_keys():
    result = run(["decode", BASIC.hex(" "), CELLS.hex(" ")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert sorted(doc) == sorted(KEYS + EXTRAS)
    assert (doc["voltage_v"], doc["current_a"], doc["soc_pct"], doc["cell_count"]) == (44.08, 0.98, 14, 11)
    assert doc["cell_voltages_v"][7] == 4.027 and doc["temperatures_c"] == [11.9, 10.1]
    assert (doc["capacity_ah"], doc["remaining_capacity_ah"], doc["cycle_count"]) == (12.0, 1.64, 0)
    assert doc["charge_enabled"] is True and doc["discharge_enabled"] is True
    assert doc["balancing_cells"] == [2, 8, 10] and doc["protection_bits"] == [] and doc["alarms"] == []


def test_decode_one_concatenated_string_with_the_name_and_from_stdin():
    text = (BASIC + CELLS + NAME).hex(":").upper()
    for result in (run(["decode", text]), run(["decode", "-"], stdin=text + "\n")):
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["hardware_name"] == "SP15S001-P13S-30A"


def test_decode_only_basic_info_carries_only_its_keys():
    doc = json.loads(run(["decode", FRAMES["basic_4s_3ntc_cell_ov_data"].hex()]).stdout)
    assert "cell_voltages_v" not in doc and doc["cell_count"] == 4
    assert doc["protection_bits"] == ["cell_overvoltage"] and doc["alarms"] == ["cell_overvoltage"]
    assert doc["charge_enabled"] is False


def test_decode_invert_current():
    doc = json.loads(run(["decode", BASIC.hex(), "--invert-current"]).stdout)
    assert doc["current_a"] == -0.98


WRONG_END = BASIC[:-1] + b"\x78"
WRONG_SUM = BASIC[:-2] + bytes((BASIC[-2] ^ 0x01, 0x77))
WRONG_LENGTH = BASIC[:3] + b"\x19" + BASIC[4:]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("DC" + BASIC.hex()[2:], "invalid reply (header): does not start with DD"),
        (WRONG_END.hex(), "invalid reply (end): no 0x77 where the length byte"),
        (WRONG_SUM.hex(), "invalid reply (checksum): checksum mismatch"),
        (WRONG_LENGTH.hex(), "invalid reply (length): the length byte says 25 data bytes"),
        ("DD 03 80 00 FF 80 77", "invalid reply (status): the BMS answered register 0x03"),
        (FRAMES["transcription_a5_header_12s"].hex(), "invalid reply (register): a reply to register 0xA5"),
        (FRAMES["errors_aa_sp04s034"].hex(), "invalid reply (register): a reply to register 0xAA"),
        ((BASIC + BASIC).hex(), "register 0x03 (basic info) given twice"),
        ("DD A5 03 00 FF FD 77", "invalid reply (echo): a request for register 0x03"),
        (FRAMES["up16s_pack_status"].hex(), "invalid reply (unsupported): a JBD UP-series (UP16S)"),
        (BASIC.hex()[:40], "invalid reply (truncated)"),
        (
            (BASIC + FRAMES["cells_4s_sp04s034"]).hex(),
            "impossible reply: basic info reports 11 cells but 0x04 carries 4",
        ),
        ("DD 03 ZZ", "invalid input: not hex"),
        ("", "invalid input: no hex digits"),
    ],
)
def test_invalid_input_exits_1_with_one_line_on_stderr_and_nothing_on_stdout(text, reason):
    result = run(["decode", text])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert reason in result.stderr


@pytest.mark.parametrize(
    "data", [b"\xdd\x03\x00\x1d\xff\x00\x77", b"\xff\xfe\x00\x01", "DD 03 \u00e9".encode()]
)
def test_binary_stdin_is_one_line_not_a_traceback(data):
    result = run(["decode", "-"], stdin=data)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "stdin is not hex text" in result.stderr


def test_read_prints_json_from_a_simulated_bms():
    result = run(["read", "--port", "jbdsim://?cells=8&current=-4.5&ntc=2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["cell_count"] == 8 and doc["current_a"] == -4.5 and len(doc["temperatures_c"]) == 2
    assert doc["hardware_name"].startswith("JBD-")
    assert sorted(doc) == sorted([*KEYS, *EXTRAS, "hardware_name"])


def test_read_prints_a_table_by_default():
    result = run(["read", "--port", "jbdsim://?cells=4"])
    assert result.exit_code == 0, result.output
    assert "cells (4)" in result.stdout and "MOSFETs" in result.stdout and "model" in result.stdout


def test_read_honours_set_for_its_section():
    result = run(["read", "--set", "jbd.port=jbdsim://?cells=5", "--json"])
    assert json.loads(result.stdout)["cell_count"] == 5


def test_read_failure_is_one_line(tmp_path):
    result = run(["read", "--port", str(tmp_path / "nothing"), "--timeout", "0.05"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "SourceUnavailable: cannot open" in result.stderr


def test_read_bad_config_exits_2():
    result = run(["read", "--port", "jbdsim://", "--timeout", "9"])
    assert result.exit_code == 2 and "out of range" in result.stderr


def test_simulate_serves_on_a_pty_until_stopped(tmp_path):
    link = tmp_path / "ttyJBDSIM"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_core", "jbd", "simulate", "--cells", "10", "--current", "7",
         "--ntc", "2", "--link", str(link), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path == str(link)
        source = JbdSource(
            JbdConfig(port=path), PluginContext("jbd", MonotonicClock(), logging.getLogger("t"))
        )
        source.open()
        reading = source.read()
        source.close()
        assert reading.cell_count == 10 and reading.current_a == 7.0 and len(reading.temperatures_c) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert not link.exists()


def test_simulate_refuses_an_unknown_fault():
    result = run(["simulate", "--fault", "melt", "--duration", "0"])
    assert result.exit_code == 2 and "unknown fault 'melt'" in result.stderr
