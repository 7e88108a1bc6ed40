"""``gateway demo``: the real engine, the JK simulator and a pretend inverter on a virtual CAN bus."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager
from gateway_demo.demo import DEMO_FAULTS, DemoOptions, run_demo
from gateway_demo.view import CLEAR, PretendInverter

RULE = "-" * 72


def gateway_script() -> str:
    script = Path(sys.executable).parent / "gateway"
    found = str(script) if script.is_file() else shutil.which("gateway")
    assert found
    return found


def blocks(output: str) -> dict[int, str]:
    """Plain output -> {cycle: that cycle's view}."""
    views = {}
    for block in output.split(RULE + "\n")[1:]:
        match = re.search(r"\| cycle (\d+)\n", block)
        assert match, block
        views[int(match.group(1))] = block
    return views


def row(view: str, arbitration_id: int) -> str:
    match = re.search(rf"^  0x{arbitration_id:03X} .*$", view, re.MULTILINE)
    assert match, f"no 0x{arbitration_id:03X} row in\n{view}"
    return match.group(0)


def test_gateway_demo_cycles_5_exits_0_and_shows_decoded_frames() -> None:
    """The README's first command, as a user runs it (default period, stdout not a terminal)."""
    result = subprocess.run(
        [gateway_script(), "demo", "--cycles", "5"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout  # plain text when stdout is not a terminal
    views = blocks(result.stdout)
    assert sorted(views) == [1, 2, 3, 4, 5]
    last = views[5]
    assert re.search(r"CVL 55\.2 V  CCL \d+\.\d A  DCL \d+\.\d A  DVL 50\.4 V", row(last, 0x351))
    assert re.search(r"SOC \d+ %  SOH 100 %", row(last, 0x355))
    assert "'PYLON'" in row(last, 0x35E)
    assert "inverter heartbeat" in row(last, 0x305)
    assert "stopped after 5 cycles" in result.stdout
    assert "CCL 0.0 A  DCL 0.0 A" in result.stdout.split("stopped after")[1]


def test_the_values_shown_are_what_the_simulator_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from jk_uart.simulator import SimulatedBms

    reported: list[Any] = []
    original = SimulatedBms.encode_reply

    def recording(self: SimulatedBms, command: int = 0x06) -> bytes:
        reported.append(self.status)
        return original(self, command)

    monkeypatch.setattr(SimulatedBms, "encode_reply", recording)
    result = CliRunner().invoke(
        build_app(make_plugin_manager()), ["demo", "--cycles", "5", "--period", "0.1", "--speed", "2000"]
    )

    assert result.exit_code == 0, result.output
    views = blocks(result.stdout)
    assert len(reported) == len(views) == 5  # one request, one reply, one view per cycle
    currents = set()
    for cycle, view in views.items():
        status = reported[cycle - 1]
        soc = re.search(r"SOC (\d+) %", row(view, 0x355))
        measured = re.search(r"([\d.]+) V  (-?[\d.]+) A", row(view, 0x356))
        cells = re.search(r"min ([\d.]+) V #\d+  max ([\d.]+) V", view)
        assert soc and measured and cells
        assert int(soc.group(1)) == status.soc_pct
        assert float(measured.group(1)) == pytest.approx(status.voltage_v, abs=0.005)
        assert float(measured.group(2)) == pytest.approx(round(status.current_a, 1), abs=0.051)
        assert float(cells.group(1)) == min(status.cell_voltages_v)
        assert float(cells.group(2)) == max(status.cell_voltages_v)
        currents.add(status.current_a)
    assert 0.0 in currents and 50.0 in currents  # the pretend inverter started charging within the limits


def test_a_fault_engages_the_fail_safe_and_recovery_releases_it() -> None:
    result = CliRunner().invoke(
        build_app(make_plugin_manager()),
        [
            "demo",
            "--cycles",
            "12",
            "--period",
            "0.1",
            "--fault",
            "silence",
            "--fault-at",
            "2",
            "--fault-cycles",
            "5",
            "--set",
            "gateway.stale_after=0.3",
        ],
    )

    assert result.exit_code == 0, result.output
    views = blocks(result.stdout)
    failsafe = [cycle for cycle, view in views.items() if "FAIL-SAFE (stale_reading)" in view]
    assert failsafe, result.stdout
    for cycle in failsafe:
        assert 2 <= cycle <= 7
        assert "CCL 0.0 A  DCL 0.0 A" in row(views[cycle], 0x351)
        assert "nothing requested" in row(views[cycle], 0x35C)
        assert "may not charge: 0 A" in views[cycle]
        assert "FAIL-SAFE" in views[cycle]
    assert "charge_enable, discharge_enable" in row(views[12], 0x35C)
    assert "fail-safe released" in views[12]
    assert "fault: silence from cycle 2 to 6 (over)" in views[12]


def test_on_a_terminal_each_cycle_redraws_in_place() -> None:
    shown: list[str] = []
    run = run_demo(make_plugin_manager(), DemoOptions(cycles=2, period_s=0.1), shown.append, tty=True)

    assert run.exit_code == 0
    assert len(run.results) == 2
    assert [text.startswith(CLEAR) for text in shown] == [True, True, False]  # the goodbye is appended


def test_an_unknown_fault_is_a_one_line_error() -> None:
    result = CliRunner().invoke(build_app(make_plugin_manager()), ["demo", "--fault", "meltdown"])

    assert result.exit_code == 2
    assert result.stderr.startswith("gateway: error: --fault 'meltdown'; accepted: silence, garbage")


def test_the_demo_faults_are_the_simulators_plus_unplug() -> None:
    from jk_uart.faults import FAULTS

    assert set(DEMO_FAULTS) == {*FAULTS, "unplug"}


def limit_frames(
    ccl: float, dcl: float, soc: int, requests: int, at: float = 0.0
) -> dict[int, tuple[bytes, float]]:
    def u16(value: float) -> bytes:
        return round(value).to_bytes(2, "little")

    return {
        0x351: (u16(552) + u16(ccl * 10) + u16(dcl * 10) + u16(504), at),
        0x355: (u16(soc) + u16(100), at),
        0x35C: (bytes([requests, 0]), at),
    }


def test_the_pretend_inverter_obeys_the_limits() -> None:
    inverter = PretendInverter(charge_a=50, discharge_a=40)

    assert inverter.update(limit_frames(30, 60, 50, 0xC0), now_s=0.5) == 30.0  # CCL caps the charge
    assert inverter.update(limit_frames(0, 60, 97, 0x40), now_s=1.0) == -40.0  # charge closed: discharge
    assert inverter.update(limit_frames(60, 10, 40, 0xC0), now_s=1.5) == -10.0  # DCL caps the discharge
    assert inverter.update(limit_frames(60, 60, 14, 0xC0), now_s=2.0) == 50.0  # low SOC: charge again
    assert inverter.update(limit_frames(0, 0, 50, 0x00), now_s=2.5) == 0.0  # stop limits: nothing
    assert inverter.update(limit_frames(60, 60, 50, 0xC0, at=0.0), now_s=10.0) == 0.0  # frames stopped
    assert "stands by" in inverter.note


def test_the_stack_runs_with_memory_deny_write_execute(tmp_path: Path) -> None:
    """The unit sets MemoryDenyWriteExecute=yes; the kernel's PR_SET_MDWE is the same rule."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def deny_write_execute() -> None:
        if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux >= 6.3)
            os._exit(97)

    probe = subprocess.run(
        [sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"],
        preexec_fn=deny_write_execute,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode == 97 or "PermissionError" not in probe.stderr:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+) or does not keep it across exec")

    result = subprocess.run(
        [gateway_script(), "demo", "--cycles", "3", "--period", "0.1"],
        preexec_fn=deny_write_execute,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "stopped after 3 cycles" in result.stdout


def test_a_bad_set_is_a_one_line_startup_error() -> None:
    result = CliRunner().invoke(
        build_app(make_plugin_manager()), ["demo", "--cycles", "1", "--set", "jk_uart.timeout=99"]
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("gateway: error: --set jk_uart.timeout")
    assert result.stderr.count("\n") == 1


def test_the_demo_meter_shows_the_grid_and_the_oscillation_it_causes() -> None:
    result = subprocess.run(
        [gateway_script(), "demo", "--meter", "--cycles", "25", "--period", "0.2", "--plain"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^GRID  [+-]600 W (import|export)", result.stdout, re.MULTILINE)
    assert "grid power swung ±600 W" in result.stdout
