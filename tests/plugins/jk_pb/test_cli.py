"""``gateway jk_pb decode|read|scan|simulate`` through the real CLI, and into ``limit_ladder explain``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner, Result

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager
from jk_pb.simulator import forget_line, get_line

from .helpers import record, with_sum_fixed

#: The keys the issue names for a cell-info record, with the BatteryReading meanings.
KEYS = (
    "voltage_v", "current_a", "soc_pct", "soh_pct", "cell_voltages_v", "temperatures_c", "bms_temperature_c",
    "cycle_count", "capacity_ah", "charge_enabled", "discharge_enabled", "alarms",
)  # fmt: skip


def run(args: list[str], stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(build_app(make_plugin_manager()), ["jk_pb", *args], input=stdin)


def test_decode_prints_the_reading_keys_then_vendor_extras():
    result = run(["decode", record("cell_32s_16cells_charging").hex(" ")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc)[1 : 2 + len(KEYS)] == [*KEYS[:9], "remaining_capacity_ah", *KEYS[9:]]
    assert doc["record"] == "cell_info" and doc["layout"] == "32s"
    assert doc["voltage_v"] == 53.224 and doc["current_a"] == 31.881 and doc["soc_pct"] == 25
    assert doc["temperatures_c"] == [13.4, 12.8, 13.1, 13.5] and doc["bms_temperature_c"] == 12.9
    assert (doc["capacity_ah"], doc["remaining_capacity_ah"], doc["cycle_count"]) == (200.0, 49.286, 9)
    assert doc["charge_enabled"] is True and doc["alarms"] == [] and doc["bms_alarms"] == []
    assert doc["mosfet2_temperature_c"] == 12.9 and "line" not in doc


def test_decode_names_alarms_both_ways():
    doc = json.loads(run(["decode", record("cell_32s_25cells_no_probes").hex()]).stdout)
    assert doc["alarms"] == ["bms_internal", "cell_overvoltage"]
    assert doc["bms_alarms"] == ["cell_overvoltage", "charge_mosfet_abnormal", "modify_password_in_time"]
    assert doc["temperatures_c"] == [] and doc["bms_temperature_c"] is None


@pytest.mark.parametrize(
    ("name", "layout"), [("cell_24s_16cells_charging", "24s"), ("cell_32s_16cells_discharging", "32s")]
)
def test_decode_finds_the_layout_or_takes_the_one_given(name, layout):
    assert json.loads(run(["decode", record(name).hex()]).stdout)["layout"] == layout
    assert json.loads(run(["decode", record(name).hex(), "--layout", layout]).stdout)["layout"] == layout
    other = "32s" if layout == "24s" else "24s"
    wrong = run(["decode", record(name).hex(), "--layout", other])
    assert wrong.exit_code == 1 and wrong.stdout == ""


def test_decode_of_a_captured_poll_reports_the_ack_address_and_what_it_skipped():
    doc = json.loads(run(["decode", record("poll_rs485_echo_padding_ack_addr3").hex()]).stdout)
    assert doc["voltage_v"] == 52.695
    assert doc["line"]["address"] == 3
    assert "request to address 3 (register 0x1620): an echo" in doc["line"]["skipped"]


def test_decode_of_settings_with_cell_info_carries_the_bms_limits():
    rows = json.loads(run(["decode", record("sniffer_rs485_master_polls_addr1").hex()]).stdout)
    assert [row["record"] for row in rows] == ["cell_info", "settings"]
    assert rows[0]["bms_charge_current_limit_a"] == rows[1]["max_charge_current_a"]
    assert rows[1]["cell_ovp_v"] == 3.61


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("settings_rs485_pb_addr3", "capacity_ah", 280.0),
        ("device_rs485_pb_addr3", "software_version", "15.41"),
        ("cell_jk04_16cells", "layout", "jk04"),
    ],
)
def test_decode_prints_settings_device_info_and_jk04(name, key, value):
    args = ["decode", record(name).hex()] + (["--layout", "jk04"] if "jk04" in name else [])
    doc = json.loads(run(args).stdout)
    assert doc[key] == value


def test_decode_reads_stdin_with_dash():
    result = run(["decode", "-"], stdin=record("cell_32s_rs485_pb_addr3").hex() + "\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["soc_pct"] == 55


def corrupt(raw: bytes, at: int, value: int) -> bytes:
    bad = bytearray(raw)
    bad[at] = value
    return with_sum_fixed(bad)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("zz", "invalid input: not hex"),
        ("", "invalid input: no hex digits"),
        ("55 AA E", "invalid input: odd number"),
        ("55 AA EB 90 02", "invalid record (truncated)"),
        ("77 66 55 44 33 22 11", "invalid record (garbage)"),
        (record("cell_32s_rs485_pb_addr3")[:299].hex() + "00", "invalid record (checksum)"),
        (corrupt(record("cell_32s_rs485_pb_addr3"), 4, 0x09).hex(), "invalid record (frame_type)"),
        (corrupt(record("cell_32s_rs485_pb_addr3"), 173, 101).hex(), "SOC 101 %"),
        (record("cell_32s_no_cells").hex(), "mask is 0"),
    ],
)
def test_invalid_input_exits_1_with_one_line_on_stderr_and_nothing_on_stdout(data, reason):
    result = run(["decode", data])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert reason in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "data", [b"\xff\xfe\x00\x01binary", bytes(range(256)), record("cell_32s_rs485_pb_addr3")]
)
def test_binary_stdin_is_one_line_never_a_traceback(data):
    result = run(["decode", "-"], stdin=data)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("gateway jk_pb: invalid input") and result.stderr.count("\n") == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_decode_json_feeds_limit_ladder_explain():
    app = build_app(make_plugin_manager())
    decoded = CliRunner().invoke(app, ["jk_pb", "decode", record("sniffer_rs485_master_polls_addr1").hex()])
    cell_info = json.dumps(json.loads(decoded.stdout)[0])
    explained = CliRunner().invoke(app, ["limit_ladder", "explain", "--json"], input=cell_info)
    assert explained.exit_code == 0, explained.output
    result = json.loads(explained.stdout)
    assert result["reading"]["cells"] == 16 and result["fault"] is None
    # the BMS's own limits from the settings record in the same capture cap the policy's
    settings = json.loads(decoded.stdout)[1]
    assert result["charge_current_a"] <= settings["max_charge_current_a"]
    refused = CliRunner().invoke(
        app, ["limit_ladder", "explain"], input=json.dumps(json.loads(decoded.stdout)[1])
    )
    assert refused.exit_code == 2 and "settings record holds no reading" in refused.stderr


def test_explain_gets_the_bms_alarms_of_a_decoded_record():
    app = build_app(make_plugin_manager())
    decoded = CliRunner().invoke(
        app, ["jk_pb", "decode", record("cell_32s_8cells_cell_ovp_charge_off").hex()]
    )
    explained = CliRunner().invoke(app, ["limit_ladder", "explain", "--json"], input=decoded.stdout)
    result = json.loads(explained.stdout)
    assert result["charge_current_a"] == 0.0
    assert any("cell overvoltage" in reason for reason in result["reasons"])


@pytest.fixture
def line_name():
    yield "cli-line"
    forget_line("cli-line")


def test_read_prints_json_with_settings_and_device(line_name):
    url = f"jkpbsim://?packs=3&name={line_name}&clock=manual"
    result = run(["read", "--port", url, "--address", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["address"] == 2 and doc["cell_voltages_v"] == list(
        get_line(line_name).pack(2).cell_info().cell_voltages_v
    )
    assert doc["bms_charge_current_limit_a"] == 100.0 and doc["settings"]["address"] == 2
    assert doc["device"]["model"] == "JK_PB2A16S20P"


def test_read_prints_a_table_by_default(line_name):
    result = run(["read", "--port", f"jkpbsim://?packs=1&name={line_name}&clock=manual", "--address", "1"])
    assert result.exit_code == 0, result.output
    assert (
        "cells (16)" in result.stdout and "BMS limits" in result.stdout and "JK_PB2A16S20P" in result.stdout
    )


def test_read_of_a_silent_address_is_one_line(line_name):
    result = run(["read", "--port", f"jkpbsim://?packs=1&name={line_name}&clock=manual", "--address", "5"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "NoReply: no reply" in result.stderr and result.stderr.count("\n") == 1


def test_read_bad_config_exits_2():
    result = run(["read", "--address", "16"])
    assert result.exit_code == 2 and "address" in result.stderr and result.stderr.count("\n") == 1


def test_scan_lists_the_addresses_that_answer(line_name):
    line = get_line(line_name, addresses=(2, 5, 11))
    line.drop(5)
    result = run(
        ["scan", "--port", f"jkpbsim://?name={line_name}&clock=manual", "--timeout", "0.05", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert [row["address"] for row in json.loads(result.stdout)] == [2, 11]
    assert line.requests == 15


def test_scan_of_an_empty_line_exits_1(line_name):
    get_line(line_name, addresses=(1,)).drop(1)
    result = run(["scan", "--port", f"jkpbsim://?name={line_name}&clock=manual", "--timeout", "0.05"])
    assert result.exit_code == 1 and "no pack answered" in result.stderr


def test_simulate_serves_packs_on_a_pty_that_scan_and_read_find(tmp_path):
    link = tmp_path / "ttyPB"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_core", "jk_pb", "simulate", "--packs", "2", "--link", str(link),
         "--duration", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(link)
        result = run(["scan", "--port", str(link), "--timeout", "0.05", "--json"])
        assert result.exit_code == 0, result.output
        assert [row["address"] for row in json.loads(result.stdout)] == [1, 2]
        doc = json.loads(run(["read", "--port", str(link), "--address", "2", "--json"]).stdout)
        assert doc["cell_voltages_v"] and doc["settings"]["address"] == 2
    finally:
        proc.terminate()
        proc.wait(5)
    assert proc.returncode == 0
