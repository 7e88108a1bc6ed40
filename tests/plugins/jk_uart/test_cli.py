"""``gateway jk_uart decode|read|simulate`` through the real CLI."""

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
from jk_uart.config import JkUartConfig
from jk_uart.source import JkUartSource

from .helpers import FRAMES, with_checksum_fixed

REPLY_HEX = FRAMES["reply_16s_lfp_bd6a17s6p_fw7.1.0H"].hex(" ").upper()
KEYS = (
    "cell_count", "cell_voltages_v", "voltage_v", "current_a", "soc_pct", "temperatures_c", "cycle_count",
    "capacity_ah", "charge_enabled", "discharge_enabled", "balancing", "alarms",
)  # fmt: skip


def run(args: list[str], stdin: str | None = None) -> Result:
    return CliRunner().invoke(build_app(make_plugin_manager()), ["jk_uart", *args], input=stdin)


def test_decode_prints_the_documented_json():
    result = run(["decode", REPLY_HEX])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert all(key in doc for key in KEYS)
    assert doc["cell_count"] == 16 and len(doc["cell_voltages_v"]) == 16
    assert doc["voltage_v"] == 51.21 and doc["current_a"] == -0.69 and doc["soc_pct"] == 15
    assert doc["temperatures_c"] == {"mosfet": 18.0, "t1": 16.0, "t2": 16.0}
    assert doc["charge_enabled"] is True and doc["balancing"] is False and doc["alarms"] == []
    assert doc["protection"]["charge_overcurrent_a"] == 30
    assert doc["software_version"] == "H7.X__S7.1.0H__"


def test_decode_reads_stdin_with_dash():
    result = run(["decode", "-"], stdin=FRAMES["reply_14s_protocol_v1_doc_example"].hex() + "\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["current_a"] == 2.08


def test_decode_of_the_corrected_old_firmware_frame():
    result = run(["decode", with_checksum_fixed(FRAMES["reply_20s_old_firmware_no_B8_to_C0"]).hex()])
    doc = json.loads(result.stdout)
    assert doc["current_a"] == 0.0 and doc["current_encoding"] == "v0" and doc["cell_count"] == 20


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (FRAMES["reply_20s_old_firmware_no_B8_to_C0"].hex(), "invalid frame (checksum): checksum mismatch"),
        (REPLY_HEX[:60], "invalid frame (truncated)"),
        ("4E 57 ZZ", "invalid input: not hex"),
        ("", "invalid input: no hex digits"),
        (FRAMES["request_read_all_source_pc"].hex(), "invalid frame (request)"),
    ],
)
def test_invalid_input_exits_nonzero_with_one_line_on_stderr(text, reason):
    result = run(["decode", text])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert reason in result.stderr


def test_read_prints_json_from_a_simulated_bms():
    result = run(["read", "--port", "jksim://?cells=8&current=-4.5", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["cell_count"] == 8 and doc["current_a"] == -4.5


def test_read_prints_a_table_by_default():
    result = run(["read", "--port", "jksim://?cells=4"])
    assert result.exit_code == 0
    assert "cells (4)" in result.stdout and "MOSFET" in result.stdout


def test_read_honours_set_for_its_section():
    result = run(["read", "--set", "jk_uart.port=jksim://?cells=5", "--json"])
    assert json.loads(result.stdout)["cell_count"] == 5


def test_read_failure_is_one_line(tmp_path):
    result = run(["read", "--port", str(tmp_path / "nothing"), "--timeout", "0.05"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "SourceUnavailable: cannot open" in result.stderr


def test_read_bad_config_exits_2():
    result = run(["read", "--port", "jksim://", "--timeout", "9"])
    assert result.exit_code == 2
    assert "out of range" in result.stderr


def test_simulate_serves_on_a_pty_until_stopped(tmp_path):
    link = tmp_path / "ttyJKSIM"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_core", "jk_uart", "simulate", "--cells", "10", "--current", "7",
         "--link", str(link), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path == str(link)
        src = JkUartSource(
            JkUartConfig(port=path, timeout=1.0),
            PluginContext("jk_uart", MonotonicClock(), logging.getLogger("t")),
        )
        src.open()
        reading = src.read()
        src.close()
        assert reading.cell_count == 10 and reading.current_a == 7.0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert not link.exists()
