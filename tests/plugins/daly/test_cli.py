"""``gateway daly decode|read|simulate`` through the real CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner, Result

from daly.config import DalyConfig
from daly.source import DalySource
from gateway_core.cli import build_app
from gateway_core.clock import MonotonicClock
from gateway_core.plugins import make_plugin_manager
from gateway_core.roles import PluginContext

from .helpers import FRAMES
from .test_reference_frames import mppsolar_poll

ISSUE_KEYS = {
    "voltage_v", "current_a", "soc_pct", "cell_voltages_v", "temperatures_c", "charge_enabled",
    "discharge_enabled", "cycle_count", "cell_count", "alarms",
}  # fmt: skip
QUICK = ["--set", "daly.baudrate=115200", "--set", "daly.bus_gap_s=0", "--timeout", "0.1"]


def run(args: list[str], stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(build_app(make_plugin_manager()), ["daly", *args], input=stdin)


def test_decode_of_a_whole_poll_prints_the_reading_keys():
    result = run(["decode", mppsolar_poll().hex(" ")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == ISSUE_KEYS - {"alarms"} | {"remaining_capacity_ah"}  # this capture has no 0x98
    assert (doc["voltage_v"], doc["current_a"], doc["soc_pct"], doc["cell_count"]) == (53.2, -2.1, 88.8, 16)
    assert (
        doc["temperatures_c"] == [15.0] and doc["cycle_count"] == 3 and doc["remaining_capacity_ah"] == 248.64
    )
    assert result.stderr == ""


def test_decode_of_one_frame_prints_only_what_it_carries():
    doc = json.loads(run(["decode", FRAMES["tomatensaus_poll1"][:13].hex()]).stdout)
    assert doc == {"voltage_v": 51.5, "current_a": -50.0, "soc_pct": 82.4}


def test_decode_of_0x91_and_0x92_alone_names_cell_and_probe_numbers():
    text = (FRAMES["mppsolar_0x91"] + FRAMES["derived_0x92_minus12c_minus5c"]).hex()
    assert json.loads(run(["decode", text]).stdout) == {
        "max_cell_v": 3.328, "max_cell_number": 15, "min_cell_v": 3.326, "min_cell_number": 1,
        "max_temperature_c": -5.0, "max_temperature_probe": 1, "min_temperature_c": -12.0,
        "min_temperature_probe": 2,
    }  # fmt: skip


def test_decode_of_a_multi_frame_reply_alone_notes_the_missing_counts():
    result = run(["decode", FRAMES["mppsolar_0x95_16s_16frames"].hex()])
    assert result.exit_code == 0 and json.loads(result.stdout)["cell_count"] == 16
    assert "no 0x94 frame" in result.stderr and result.stderr.count("\n") == 1


def test_decode_of_0x97_alone_says_it_is_not_decoded():
    balance = next(
        f for f in (FRAMES["snpg_poll_16s"][i : i + 13] for i in range(0, 195, 13)) if f[2] == 0x97
    )
    result = run(["decode", balance.hex()])
    assert result.exit_code == 0 and json.loads(result.stdout) == {}
    assert "0x97 (balancing) is not decoded" in result.stderr


def test_decode_reads_stdin_with_dash_and_flips_the_sign_on_request():
    result = run(
        ["decode", "-", "--invert-current"], stdin="0x" + FRAMES["powermon_0x90_soc77.8"].hex() + "\n"
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["current_a"] == 15.9


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (FRAMES["powermon_0x90_bad_checksum"].hex(), "invalid frame (checksum): frame 1 (bytes 0..12)"),
        (FRAMES["powermon_0x90_wrong_start"].hex(), "invalid frame (garbage)"),
        (FRAMES["mppsolar_0x95_8s_cut"].hex(), "invalid frame (truncated): frame 11"),
        (FRAMES["request_0x90_pc"].hex(), "invalid frame (request): only requests"),
        (FRAMES["derived_0x95_frame_number_a8"].hex(), "implausible: 0x95 frame numbers out of sequence"),
        (FRAMES["tomatensaus_poll1"].hex(), "implausible: 0x94 says 16 cells"),
        ("A5 01 ZZ", "invalid input: not hex: unexpected 'Z'"),
        ("a5 0", "invalid input: odd number of hex digits"),
        ("", "invalid input: no hex digits"),
    ],
)
def test_invalid_input_exits_1_with_one_line_on_stderr_and_nothing_on_stdout(text, reason):
    result = run(["decode", text])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and reason in result.stderr


@pytest.mark.parametrize(
    ("stdin", "reason"),
    [
        (b"\xa5\x01\x90\x08\xff\x00", "stdin is not hex text (byte 0xA5 at offset 0)"),
        ("a5 01 90 \u00e9".encode(), "stdin is not hex text (byte 0xC3 at offset 9)"),
        (b"\x00" * 50, "not hex: unexpected '\\x00'"),
    ],
)
def test_binary_or_non_ascii_stdin_is_one_line_not_a_traceback(stdin, reason):
    result = run(["decode", "-"], stdin=stdin)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"invalid input: {reason}" in result.stderr


def test_an_inverted_sign_unit_decoded_with_the_wrong_setting_is_implausible():
    frames = FRAMES["tomatensaus_poll1"][:13] + FRAMES["tomatensaus_poll1"][26:39]  # 0x90 and 0x93
    result = run(["decode", frames.hex(), "--invert-current"])
    assert result.exit_code == 1 and "implausible: current +50.0 A" in result.stderr
    assert "against the BMS state 'discharging'" in result.stderr


def test_read_prints_json_from_a_simulated_unit():
    result = run(["read", "--port", "dalysim://?cells=8&current=-4.5&probes=1", "--json", *QUICK])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == ISSUE_KEYS | {"remaining_capacity_ah"}
    assert doc["cell_count"] == 8 and doc["current_a"] == -4.5 and len(doc["temperatures_c"]) == 1


def test_read_prints_a_table_and_the_ids_not_answered():
    result = run(["read", "--port", "dalysim://?cells=4&refuse=98", *QUICK])
    assert result.exit_code == 0, result.output
    assert (
        "cells (4)" in result.stdout and "MOSFETs" in result.stdout and "not answered   0x98" in result.stdout
    )


def test_read_of_another_board_on_the_line():
    result = run(["read", "--port", "dalysim://?boards=1,3&cells=4", "--address", "3", "--json", *QUICK])
    assert result.exit_code == 0 and json.loads(result.stdout)["cell_count"] == 4


def test_read_failure_is_one_line(tmp_path):
    result = run(["read", "--port", str(tmp_path / "nothing"), "--timeout", "0.05"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "SourceUnavailable: cannot open" in result.stderr


def test_read_of_a_wrong_sign_setting_is_one_line():
    result = run(["read", "--port", "dalysim://?current=5&inverted=1", "--json", *QUICK])
    assert result.exit_code == 1 and result.stdout == ""
    assert "ImplausibleReply: current -5.0 A" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"), [(["--address", "17"], "address"), (["--timeout", "9"], "timeout")]
)
def test_read_bad_config_exits_2(args, message):
    result = run(["read", "--port", "dalysim://", *args])
    assert result.exit_code == 2 and message in result.stderr and "out of range" in result.stderr


def test_simulate_serves_on_a_pty_until_stopped(tmp_path):
    link = tmp_path / "ttyDALYSIM"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_core", "daly", "simulate", "--cells", "10", "--current", "7",
         "--refuse", "98", "--link", str(link), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path == str(link)
        src = DalySource(
            DalyConfig(port=path),
            PluginContext("daly", MonotonicClock(), logging.getLogger("t"), period_s=3.0),
        )
        src.open()
        reading = src.read()
        src.close()
        assert reading.cell_count == 10 and reading.current_a == 7.0 and src.skipped == (0x98,)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert not link.exists()


def test_simulate_refuses_a_bad_option():
    result = run(["simulate", "--refuse", "zz", "--duration", "0"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
