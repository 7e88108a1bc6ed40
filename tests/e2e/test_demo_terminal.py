"""The demo on a real 80x24 terminal (tmux): the limits, the decoded frames and the fail-safe fit."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

GATEWAY = Path(sys.executable).parent / "gateway"
pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None and not Path("/usr/bin/tmux").exists(),
    reason="tmux is not installed (apt-get install tmux; .ci/run installs it)",
)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def screen_until(session: str, needle: str, timeout_s: float = 30.0) -> str:
    end = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < end:
        text = tmux("capture-pane", "-p", "-t", session)
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never showed on the 80x24 screen:\n{text}")


def test_the_demo_fits_80x24_with_the_limits_and_the_fail_safe_visible():
    session = f"demo-{uuid.uuid4().hex[:8]}"
    command = f"{GATEWAY} demo --period 0.2 --fault silence --fault-at 4 --fault-cycles 400"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    try:
        healthy = screen_until(session, "CCL")
        lines = healthy.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        assert lines[0].startswith("battery-gateway demo")  # the title did not scroll off
        assert any(line.startswith("LIMITS  charge") for line in lines), healthy
        assert any("0x351" in line and "CCL" in line and "DCL" in line for line in lines), healthy
        failed = screen_until(session, "FAIL-SAFE")
        assert failed.splitlines()[0].startswith("battery-gateway demo")
        assert any("0x351" in line and "CCL 0.0 A  DCL 0.0 A" in line for line in failed.splitlines()), failed
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
