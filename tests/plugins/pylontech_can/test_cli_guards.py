"""Hostile input to ``gateway pylontech``: one precise line and bounded memory, never a traceback."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager
from pylontech_can.decode import decode_candump_frame, parse_candump_line

PREFIX = "gateway pylontech: error: "


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return build_app(make_plugin_manager())


def invoke(app: typer.Typer, *args: str, stdin: bytes | str | None = None) -> Result:
    return CliRunner().invoke(app, ["pylontech", *args], input=stdin)


def one_line_error(result: Result) -> str:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), result.stderr
    return lines[0].removeprefix(PREFIX)


# -- item 20: ids are precise -------------------------------------------------------------------


def test_decode_of_an_empty_id_and_data_is_one_precise_line(app: typer.Typer) -> None:
    result = invoke(app, "decode", "0x", "")
    assert result.exit_code == 2
    assert one_line_error(result) == "'0x' is not an 11-bit CAN id (000 to 7FF, hex)"


@pytest.mark.parametrize("frame_id", ["３５１", "3_5_1", "+351", " -1", "0x0x351", "1" * 400, "3 5 1"])
def test_decode_refuses_ids_that_python_int_would_take(app: typer.Typer, frame_id: str) -> None:
    result = invoke(app, "decode", frame_id, "00")
    assert result.exit_code == 2
    assert "is not an 11-bit CAN id" in one_line_error(result)


@pytest.mark.parametrize("data", ["0G", "1", "\uff10\uff10", "1" * 5000, "00_11"])
def test_decode_refuses_data_that_is_not_whole_hex_bytes(app: typer.Typer, data: str) -> None:
    result = invoke(app, "decode", "351", data)
    assert result.exit_code == 2
    message = one_line_error(result)
    assert "not whole bytes of hex digits" in message or "at most 8" in message
    assert len(message) < 200


def test_candumps_eight_digit_id_is_a_29_bit_frame_not_0x351() -> None:
    frame = parse_candump_line("(1.0) can0 00000351#1402C012C012C201")
    assert frame is not None and frame.is_extended_id and frame.arbitration_id == 0x351
    record = decode_candump_frame(frame)
    assert record["id"] == "0x00000351" and record["name"] is None and record["signals"] is None
    assert "29-bit id 0x00000351" in record["error"]
    screen = parse_candump_line("  can0  00000351   [2]  C0 00")
    assert screen is not None and screen.is_extended_id
    assert parse_candump_line("(1.0) can0 351#C000") is not None  # three digits: the 11-bit frame


@pytest.mark.parametrize(
    "line",
    [
        "(1.0) can0 ３５１#C000",
        "(1.0) can0 3_5_1#C000",
        "(1.0) can0 35#C000",
        "(1.0) can0 0351#C000",
        "(1.0) can0 351#C0_0",
        "(１.０) can0 351#C000",
        "(nan) can0 351#C000",
        "  can0  351   [２]  C0 00",
        "  can0  3_5   [2]  C0 00",
        "(1.0) can0 FFFFFFFF#00",
    ],
)
def test_lookalike_digits_are_not_candump_frames(line: str) -> None:
    assert parse_candump_line(line) is None


# -- item 11: bounded memory ---------------------------------------------------------------------


def peak_bytes(app: typer.Typer, *args: str) -> tuple[int, Result]:
    """Peak memory traced while the command runs (cantools and the DBC loaded beforehand)."""
    invoke(app, "decode", "351", "28022C01F401F801")
    tracemalloc.start()
    try:
        result = invoke(app, *args)
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_a_huge_candump_line_is_skipped_in_bounded_memory(app: typer.Typer, tmp_path: Path) -> None:
    log = tmp_path / "huge-line.log"
    with log.open("w") as handle:  # candump screen form gone wrong: 800 k byte groups on one line
        handle.write("(1.0) can0 351#28022C01F401F801\n")
        handle.write("  can0  351   [8]  " + "00 " * 800_000 + "\n")
        handle.write("(1.1) can0 35C#C000\n")
    peak, result = peak_bytes(app, "decode", "--candump", str(log))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["line"] for line in result.stdout.splitlines()] == [1, 3]
    assert result.stderr.strip() == f"{log}:2: skipped, longer than 1024 bytes"
    assert peak < 1_000_000, peak  # the 2.4 MB line is never held whole, and the rest is read


def test_a_large_candump_file_is_streamed_not_read_whole(app: typer.Typer, tmp_path: Path) -> None:
    log = tmp_path / "large.log"
    comment = "# " + "x" * 998 + "\n"
    with log.open("w") as handle:
        for _ in range(16_000):  # 16 MB of comments, then one frame
            handle.write(comment)
        handle.write("(9.0) can0 355#0F006400\n")
    peak, result = peak_bytes(app, "decode", "--candump", str(log))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signals"] == {"soc_pct": 15, "soh_pct": 100}
    assert peak < 2_000_000, peak


def test_a_line_without_end_is_not_a_candump_log(app: typer.Typer, tmp_path: Path) -> None:
    endless = tmp_path / "zeros.log"
    endless.write_bytes(bytes(17 << 20))  # like /dev/zero: no newline, ever
    result = invoke(app, "decode", "--candump", str(endless))
    assert result.exit_code == 1
    assert one_line_error(result) == f"{endless}: line 1 is longer than 16777216 bytes: not a candump log"


# -- item 21: every path is one line ---------------------------------------------------------


def test_binary_stdin_is_named_line_by_line(app: typer.Typer) -> None:
    result = invoke(app, "decode", "--candump", "-", stdin=b"\xff\xfe\x00garbage\n(1.0) can0 35C#C000\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "-:1: skipped, not UTF-8 text"
    assert json.loads(result.stdout)["signals"]["charge_enable"] is True


def test_a_skipped_line_is_echoed_without_control_characters(app: typer.Typer, tmp_path: Path) -> None:
    log = tmp_path / "escape.log"
    log.write_text("\x1b[2Jgarbage\x07\n(1.0) can0 35C#C000\n")
    result = invoke(app, "decode", "--candump", str(log))
    assert result.exit_code == 0
    assert result.stderr.strip() == f"{log}:1: skipped, not a classic CAN frame: ?[2Jgarbage?"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["decode", "--candump", "."], 2, "cannot read the candump log"),
        (["decode", "--profile", "nosuch", "351", "00"], 2, "unknown profile 'nosuch'"),
        (["decode", "--profile", "/no/such.toml", "351", "00"], 2, "cannot read the profile"),
        (["monitor", "--interface", "nosuchbus", "--seconds", "0"], 1, "cannot open CAN bus nosuchbus"),
        (
            ["monitor", "--interface", "virtual", "--option", "nokeyvalue", "--seconds", "0"],
            2,
            "expected key=value",
        ),
        (["monitor", "--set", "pylontech.profile=nosuch", "--seconds", "0"], 2, "accepted: deye, generic"),
        (["monitor", "--set", "pylontech.bitrate=1" + "0" * 400, "--seconds", "0"], 2, "bitrate"),
        (["profile", "show", "--set", "pylontech.frames=[1]"], 2, "frames"),
    ],
)
def test_bad_arguments_are_one_line_with_the_documented_exit_code(
    app: typer.Typer, args: list[str], code: int, message: str
) -> None:
    result = invoke(app, *args)
    assert result.exit_code == code, result.output
    error = [line for line in result.stderr.splitlines() if line.startswith(PREFIX)]
    assert len(error) == 1 and message in error[0], result.stderr
    assert "Traceback" not in result.output


# -- issue 22: the virtual bus is one process ------------------------------------------------


def test_monitor_on_a_virtual_bus_says_it_sees_only_its_own_process(app: typer.Typer) -> None:
    result = invoke(app, "monitor", "--interface", "virtual", "--channel", "elsewhere", "--seconds", "0")
    assert result.exit_code == 0
    note = result.stderr.strip()
    assert note.startswith("note: python-can's virtual bus exists only inside one process")
    assert "never another gateway's" in note
    assert "socketcan" in note and "slcan" in note and "udp_multicast" in note
    quiet = invoke(app, "monitor", "--interface", "nosuchbus", "--seconds", "0")
    assert "virtual bus" not in quiet.stderr


def test_monitor_lists_the_profiles_frames(app: typer.Typer) -> None:
    result = invoke(
        app, "monitor", "--interface", "virtual", "--channel", "p", "--seconds", "0", "--profile", "victron"
    )
    assert result.exit_code == 0
    view = result.stdout
    assert "(profile victron)" in view
    for name in ("BatteryAlarmsWarnings", "BatteryInfo", "BatteryCellStatus", "BatteryInstalledCapacity"):
        assert name in view and "not seen" in view
