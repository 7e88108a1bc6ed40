"""``gateway pylontech decode`` and ``monitor``, and the monitor's pure view."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import can
import pytest
import typer
from typer.testing import CliRunner, Result

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager
from pylontech_can.config import PylontechConfig
from pylontech_can.frames import FrameBuilder
from pylontech_can.monitor import render_view, run_monitor
from tests.fakes import FakeClock

from .test_frames import WORKED_LIMITS, WORKED_READING

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return build_app(make_plugin_manager())


def invoke(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, ["pylontech", *args])


@pytest.mark.parametrize("frame_id", ["0x351", "351", "0X351"])
def test_decode_one_frame(app: typer.Typer, frame_id: str) -> None:
    result = invoke(app, "decode", frame_id, "1402C012C012C201")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "charge_voltage_limit_v": 53.2,
        "charge_current_limit_a": 480.0,
        "discharge_current_limit_a": 480.0,
        "discharge_voltage_limit_v": 45.0,
    }


def test_decode_accepts_spaced_bytes_and_candump_form(app: typer.Typer) -> None:
    result = invoke(app, "decode", "356", "7A 13 F2 FE 6B 01")
    assert json.loads(result.stdout) == {"voltage_v": 49.86, "current_a": -27.0, "temperature_c": 36.3}
    result = invoke(app, "decode", "35C#C000")
    assert json.loads(result.stdout)["charge_enable"] is True


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["360", "00"], 1, "0x360 is not a Pylontech V1.2 frame"),
        (["351", "01"], 1, "too few to decode"),
        (["zz", "00"], 2, "'zz' is not an 11-bit CAN id"),
        (["800", "00"], 2, "not an 11-bit CAN id"),
        (["351", "0102030405060708090A"], 2, "at most 8"),
        (["351", "XYZ"], 2, "'XYZ' is not whole bytes of hex digits"),
        ([], 2, "give ID DATA_HEX"),
    ],
)
def test_decode_errors(app: typer.Typer, args: list[str], code: int, message: str) -> None:
    result = invoke(app, "decode", *args)
    assert result.exit_code == code
    assert message in result.stderr


def test_decode_candump_of_real_captures(app: typer.Typer) -> None:
    result = invoke(app, "decode", "--candump", str(DATA / "real_captures.log"))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 17
    first = records[0]
    assert first["id"] == "0x351" and first["name"] == "BatteryLimits" and first["timestamp_s"] == 1000.0
    assert first["signals"]["charge_current_limit_a"] == 480.0
    by_key = {(r["channel"], r["id"]): r for r in records}
    assert by_key[("can0", "0x356")]["signals"] == {
        "voltage_v": 49.86,
        "current_a": -27.0,
        "temperature_c": 36.3,
    }
    assert by_key[("can0", "0x359")]["signals"]["module_count"] == 6
    assert by_key[("can2", "0x359")]["signals"]["module_count"] == 10
    assert by_key[("can1", "0x35F")]["signals"]["capacity_ah"] == 572


def test_decode_candump_errors(app: typer.Typer, tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("# nothing\n")
    assert invoke(app, "decode", "--candump", str(empty)).exit_code == 1
    result = invoke(app, "decode", "--candump", str(tmp_path / "missing.log"))
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_decode_candump_names_every_line_it_skips(app: typer.Typer, tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_text("# comment\n(1.0) can0 351#2802\ngarbage line\n351#ZZ\n\n")
    result = invoke(app, "decode", "--candump", str(log))
    assert result.exit_code == 0
    assert [json.loads(line)["line"] for line in result.stdout.splitlines()] == [2]
    assert result.stderr.splitlines() == [
        f"{log}:3: skipped, not a classic CAN frame: garbage line",
        f"{log}:4: skipped, not a classic CAN frame: 351#ZZ",
    ]


def test_render_view_of_a_gateway_set() -> None:
    frames = FrameBuilder(PylontechConfig()).build(WORKED_READING, WORKED_LIMITS)
    table = {f.arbitration_id: (f.data, 100.0) for f in frames}
    table[0x360] = (bytes(8), 96.0)
    lines = render_view(table, 100.5, title="bus virtual test")
    text = "\n".join(lines)
    assert lines[0] == "bus virtual test"
    assert "CVL 55.2 V  CCL 30.0 A  DCL 50.0 A  DVL 50.4 V" in text
    assert "SOC 15 %  SOH 100 %" in text
    assert "51.21 V  -0.7 A  16.0 °C" in text
    assert "modules 1  PN  no protection or alarm" in text
    assert "charge_enable, discharge_enable" in text
    assert "'PYLON'" in text
    assert "0.5 s" in text
    assert "0x360" in text and "(not decoded)" in text and "STALE" in text
    assert "no 0x305 heartbeat seen" in text


def test_render_view_missing_frames_and_flags() -> None:
    lines = render_view({0x35C: (b"\x00\x00", 0.0), 0x305: (bytes(8), 0.0)}, 1.0)
    text = "\n".join(lines)
    assert "nothing requested" in text
    assert text.count("not seen") == 5
    assert "inverter heartbeat" in text and "no 0x305" not in text


class ScriptedBus:
    def __init__(self, clock: FakeClock, messages: list[can.Message]) -> None:
        self.clock = clock
        self.messages = messages

    def recv(self, timeout: float | None = None) -> can.Message | None:
        self.clock.advance(timeout or 0.0)
        return self.messages.pop(0) if self.messages else None


def test_run_monitor_keeps_the_latest_frame_and_refreshes() -> None:
    clock = FakeClock(0.0)
    messages = [
        can.Message(arbitration_id=0x355, data=bytes.fromhex("0F006400"), is_extended_id=False),
        can.Message(arbitration_id=0x355, data=bytes.fromhex("10006400"), is_extended_id=False),
        can.Message(arbitration_id=0x40, is_error_frame=True),
    ]
    shown: list[list[str]] = []
    frames = run_monitor(ScriptedBus(clock, messages), clock, shown.append, refresh_s=0.5, duration_s=2.0)
    assert frames[0x355][0] == bytes.fromhex("10006400")
    assert 0x40 not in frames
    assert len(shown) >= 4
    assert "SOC 16 %" in "\n".join(shown[-1])


def test_monitor_command_on_a_virtual_bus(app: typer.Typer) -> None:
    channel = f"monitor-{uuid.uuid4().hex}"
    stop = threading.Event()
    frames = FrameBuilder(PylontechConfig()).build(WORKED_READING, WORKED_LIMITS)

    def battery() -> None:
        with can.Bus(interface="virtual", channel=channel) as bus:
            while not stop.wait(0.02):
                for frame in frames:
                    bus.send(
                        can.Message(
                            arbitration_id=frame.arbitration_id, data=frame.data, is_extended_id=False
                        )
                    )

    thread = threading.Thread(target=battery, daemon=True)
    thread.start()
    try:
        result = invoke(
            app,
            "monitor",
            *("--interface", "virtual", "--channel", channel),
            *("--seconds", "0.4", "--refresh", "0.1", "--option", "receive_own_messages=false"),
        )
    finally:
        stop.set()
        thread.join(timeout=2)
    assert result.exit_code == 0, result.output
    last_view = result.stdout.strip().split("\n\n")[-1]
    assert f"bus virtual {channel}" in last_view
    assert "CVL 55.2 V" in last_view and "SOC 15 %" in last_view


def test_monitor_honours_config_and_reports_a_bad_bus(app: typer.Typer, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[pylontech]\ninterface = "slcan"\nchannel = "{tmp_path / "nothing"}"\n')
    result = invoke(app, "monitor", "--config", str(config), "--seconds", "0")
    assert result.exit_code == 1 and "cannot open CAN bus slcan" in result.stderr
    result = invoke(app, "monitor", "--set", "pylontech.module_count=0", "--seconds", "0")
    assert result.exit_code == 2 and "module_count" in result.stderr


def test_decode_candump_from_stdin(app: typer.Typer) -> None:
    log = "  can0  355   [4]  58 00 5E 00\n  can0  305   [8]  00 00 00 00 00 00 00 00\n"
    result = CliRunner().invoke(app, ["pylontech", "decode", "--candump", "-"], input=log)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["signals"] for r in records] == [{"soc_pct": 88, "soh_pct": 94}, {"heartbeat": 0}]
    assert records[1]["name"] == "InverterHeartbeat"
