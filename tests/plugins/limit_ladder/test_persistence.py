"""The policy memory survives a restart: a real file in a temporary state directory, an injected boot id.

"A restart" is a new :class:`LadderPolicy` on the same directory, as a new process would build; the
last test restarts real ``gateway run`` processes.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway_core.model import GatewayState, Limits
from gateway_core.roles import PluginContext
from limit_ladder.config import LadderConfig
from limit_ladder.policy import LadderPolicy
from limit_ladder.state_file import read_boot_id, state_dir
from tests.fakes import FakeClock

from .helpers import has, pack

BOOT_A = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
BOOT_B = "99999999-4b5a-6978-8796-a5b4c3d2e1f0"
LOGGER = "t.ladder.persist"


class Process:
    """One gateway process: a policy for pack ``pack1`` on ``directory``, deciding at times we choose."""

    def __init__(self, directory: Path, boot: str | None = BOOT_A, **config: Any) -> None:
        ctx = PluginContext("limit_ladder", FakeClock(), logging.getLogger(LOGGER), pack="pack1")
        self.policy = LadderPolicy(
            LadderConfig(state_dir=str(directory), **config), ctx, boot_id=lambda: boot, environ={}
        )
        self.cycle = 0

    def at(self, t: float, **reading: Any) -> Limits:
        self.cycle += 1
        limits = self.policy.decide(pack(t=t, **reading), GatewayState(t, self.cycle))
        assert self.policy.flush()
        return limits


def cut_then_rest(directory: Path) -> Process:
    """A charge cut at t=1000 (highest cell 3.56 V), then the cell rests at 3.35 V: held at 0 A."""
    first = Process(directory)
    assert first.at(1000, high=3.56).charge_current_a == 0
    held = first.at(1060, high=3.35)
    assert held.charge_current_a == 0 and has(held, "re-rise needs 2700 s since the cut (60 s so far)")
    return first


def reach_float(process: Process, start: float) -> None:
    process.at(start, high=3.35, low=3.33, current=50, soc=90)
    process.at(start + 600, high=3.45, low=3.44, current=4, soc=99)  # absorption; the ladder cuts to 30 A
    assert process.at(start + 1500, high=3.45, low=3.44, current=3, soc=99).charge_state == "float"


def test_the_memory_is_restored_after_a_restart_and_the_hold_continues(tmp_path: Path) -> None:
    cut_then_rest(tmp_path)
    assert json.loads((tmp_path / "pack1.json").read_text())["charge"]["cut_at_s"] == 1000
    again = Process(tmp_path)  # same boot: the monotonic clock went on
    limits = again.at(1200, high=3.35)
    assert limits.charge_current_a == 0
    assert has(limits, "re-rise needs 2700 s since the cut (200 s so far)")
    assert again.at(3699, high=3.35).charge_current_a == 0
    assert again.at(3700, high=3.35).charge_current_a == 60
    fresh = Process(tmp_path / "elsewhere")  # without the file the limit would have risen at once
    assert fresh.at(1200, high=3.35).charge_current_a == 60


def test_the_charge_state_is_restored_after_a_restart(tmp_path: Path) -> None:
    first = Process(tmp_path)
    reach_float(first, 0)
    again = Process(tmp_path)
    limits = again.at(9300, high=3.36, low=3.35, current=-10, soc=95)
    assert (limits.charge_state, limits.charge_voltage_v, limits.reported_soc_pct) == ("float", 54.0, 100)
    assert has(limits, "CVL 54.00 V: float since 2 h 10 min")


def test_a_changed_boot_id_restarts_the_holds_conservatively(tmp_path: Path) -> None:
    first = Process(tmp_path)
    reach_float(first, 0)  # float since 1500 s; the charge limit was cut to 30 A at 600 s
    # The Pi rebooted and has now been up for 5000 s: later than anything in the file, so only the
    # boot id tells that these monotonic times belong to another boot.
    rebooted = Process(tmp_path, boot=BOOT_B)
    limits = rebooted.at(5000, high=3.36, low=3.35, current=-10, soc=99)
    assert (limits.charge_state, limits.charge_voltage_v) == ("bulk", 55.2)  # float is not trusted
    assert limits.reported_soc_pct == 98  # the cap is back until float
    assert limits.charge_current_a == 30  # the cut is kept and its hold restarts from now
    assert has(limits, "re-rise needs 2700 s since the cut (0 s so far)")
    assert rebooted.at(7699, high=3.36, low=3.35, soc=95).charge_current_a == 30
    assert rebooted.at(7700, high=3.36, low=3.35, soc=95).charge_current_a == 60
    same_boot = Process(tmp_path / "other")
    reach_float(same_boot, 0)
    assert Process(tmp_path / "other").at(5000, high=3.36, low=3.35, soc=99).charge_state == "float"


@pytest.mark.parametrize(
    ("boot_then", "boot_now", "t_now"),
    [
        (None, BOOT_A, 2000.0),  # saved without a boot id
        (BOOT_A, None, 2000.0),  # the boot id cannot be read now
        (BOOT_A, BOOT_A, 500.0),  # same id, but the file's times lie in the future
    ],
)
def test_an_unknown_boot_or_future_times_count_as_a_reboot(
    tmp_path: Path, boot_then: str | None, boot_now: str | None, t_now: float
) -> None:
    first = Process(tmp_path, boot=boot_then)
    first.at(1000, high=3.56)
    limits = Process(tmp_path, boot=boot_now).at(t_now, high=3.35)
    assert limits.charge_current_a == 0
    assert has(limits, "re-rise needs 2700 s since the cut (0 s so far)")


def valid_document(tmp_path: Path) -> dict[str, Any]:
    cut_then_rest(tmp_path)
    document: dict[str, Any] = json.loads((tmp_path / "pack1.json").read_text())
    return document


BAD_DOCUMENTS: list[tuple[str, Any]] = [
    ("not json", "{ this is not json"),
    ("binary", b"\xff\xfe\x00garbage"),
    ("a list", [1, 2, 3]),
    ("foreign format", {"format": "something else", "version": 1}),
    ("newer version", {"version": 2}),
    ("another pack", {"pack": "pack2"}),
    ("negative amps", {"charge": {"amps": -5.0, "reason": "", "cut_at_s": 1000.0}}),
    ("amps as text", {"charge": {"amps": "60", "reason": "", "cut_at_s": 1000.0}}),
    ("huge integer", {"saved_at_s": 10**400}),
    ("unknown state", {"charge_state": {"state": "floating", "since_s": 1.0, "full_since_s": None}}),
    ("missing latch", {"charge_temp_blocked": None}),
    ("cap out of range", {"counteraction": {"charge_cap_a": 1e9}}),
]


@pytest.mark.parametrize(("what", "change"), BAD_DOCUMENTS, ids=[w for w, _ in BAD_DOCUMENTS])
def test_a_corrupt_or_foreign_file_gives_one_warning_and_a_fresh_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, what: str, change: Any
) -> None:
    path = tmp_path / "pack1.json"
    if isinstance(change, dict):
        document = valid_document(tmp_path)
        for key, value in change.items():
            document[key] = (
                {**document[key], **value} if isinstance(value, dict) and document.get(key) else value
            )
        path.write_text(json.dumps(document))
    elif isinstance(change, bytes):
        path.write_bytes(change)
    else:
        path.write_text(change if isinstance(change, str) else json.dumps(change))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        process = Process(tmp_path)
        limits = [process.at(1200 + i, high=3.35) for i in range(3)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"ignoring the policy memory {path}: ") and warnings[0].endswith(
        "starting fresh"
    )
    assert "\n" not in warnings[0]
    assert all(lim.charge_current_a == 60 for lim in limits)  # nothing of the file was trusted
    assert json.loads(path.read_text())["pack"] == "pack1"  # and it was replaced by a good one


@pytest.mark.parametrize("kind", ["directory", "fifo", "too large", "symlink"])
def test_odd_files_at_the_path_are_refused_without_hanging(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    path = tmp_path / "pack1.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "too large":
        path.write_text(" " * (65 * 1024) + "{}")
    else:
        (tmp_path / "elsewhere.json").write_text("{}")
        path.symlink_to(tmp_path / "elsewhere.json")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        Process(tmp_path).at(1200, high=3.35)
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.levelno >= logging.WARNING][:1] == [
        f"ignoring the policy memory {path}"
    ]


def test_an_unchanged_memory_is_not_rewritten(tmp_path: Path) -> None:
    process = Process(tmp_path)
    process.at(0, high=3.30)
    path = tmp_path / "pack1.json"
    first = os.stat(path)
    for t in range(1, 200):
        process.at(t, high=3.30 + (t % 3) * 0.001)  # the reasons change, the memory that counts does not
    assert os.stat(path).st_ino == first.st_ino  # every write is a rename, so a new inode
    process.at(200, high=3.56)  # a cut: saved
    assert os.stat(path).st_ino != first.st_ino
    assert json.loads(path.read_text())["charge"]["amps"] == 0


def test_the_file_is_written_atomically_and_privately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = Process(tmp_path / "state")  # created when missing
    process.at(0, high=3.30)
    path = tmp_path / "state" / "pack1.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["pack1.json"]  # no temporary file left
    before = path.read_text()

    def power_cut(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", power_cut)
    process.at(10, high=3.56)
    assert path.read_text() == before  # the old file is whole; the new one never replaced it
    assert json.loads(before)["charge"]["amps"] == 60


def test_a_failing_disk_is_logged_once_until_it_works_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = Process(tmp_path)
    process.at(0, high=3.30)
    real_replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    )
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for t, high in enumerate((3.56, 3.30, 3.56, 3.30), start=1):
            process.at(t * 3000, high=high)
        monkeypatch.setattr(os, "replace", real_replace)
        process.at(20000, high=3.56)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot save the policy memory" in m and "No space left" in m for m in messages) == 1
    assert sum("saved to" in m and "again" in m for m in messages) == 1


def test_state_directory_comes_from_the_config_then_systemd_then_nowhere(tmp_path: Path) -> None:
    assert state_dir("/srv/gw", {"STATE_DIRECTORY": "/var/lib/battery-gateway"}) == Path("/srv/gw")
    assert state_dir("", {"STATE_DIRECTORY": "/var/lib/battery-gateway:/var/lib/other"}) == Path(
        "/var/lib/battery-gateway"
    )
    assert state_dir("", {"STATE_DIRECTORY": "relative"}) is None
    assert state_dir("", {}) is None


def test_under_systemd_the_file_goes_to_state_directory(tmp_path: Path) -> None:
    ctx = PluginContext("limit_ladder", FakeClock(), logging.getLogger(LOGGER))
    policy = LadderPolicy(
        LadderConfig(), ctx, boot_id=lambda: BOOT_A, environ={"STATE_DIRECTORY": str(tmp_path)}
    )
    policy.decide(pack(t=0.0), GatewayState(0.0, 1))
    assert policy.flush()
    assert policy.state_path == str(tmp_path / "limit_ladder.json")  # no pack: the policy's own name
    assert json.loads((tmp_path / "limit_ladder.json").read_text())["pack"] == "limit_ladder"


def test_a_plain_foreground_run_keeps_no_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ctx = PluginContext("limit_ladder", FakeClock(), logging.getLogger(LOGGER))
    policy = LadderPolicy(LadderConfig(), ctx, boot_id=lambda: BOOT_A, environ={})
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for t in range(3):
            policy.decide(pack(t=float(t), high=3.56), GatewayState(float(t), t + 1))
    assert policy.state_path is None
    assert sum("not kept across restarts" in r.getMessage() for r in caplog.records) == 1
    without_ctx = LadderPolicy(LadderConfig(state_dir=str(tmp_path)))  # tests and explain
    without_ctx.decide(pack(t=0.0), GatewayState(0.0, 1))
    assert without_ctx.state_path is None and list(tmp_path.iterdir()) == []


def test_the_boot_id_reader(tmp_path: Path) -> None:
    kernel = tmp_path / "boot_id"
    kernel.write_text(BOOT_A + "\n")
    assert read_boot_id(kernel, {}) == BOOT_A.replace("-", "")
    assert read_boot_id(tmp_path / "missing", {"BATTERY_GATEWAY_BOOT_ID": BOOT_A.replace("-", "")}) == (
        BOOT_A.replace("-", "")
    )  # systemd's %b has no dashes: the same id either way
    kernel.write_text("not a boot id")
    assert read_boot_id(kernel, {}) is None
    assert read_boot_id(tmp_path / "missing", {"BATTERY_GATEWAY_BOOT_ID": "x; rm -rf /"}) is None
    if Path("/proc/sys/kernel/random/boot_id").exists():
        assert read_boot_id() is not None and len(read_boot_id() or "") == 32


def test_a_real_process_restart_restores_the_memory(tmp_path: Path) -> None:
    """Two ``gateway run`` processes, one after the other: the real clock, the real boot id.

    The file is named after the pack, the source instance ``jk_uart``.
    """
    args = [
        sys.executable, "-m", "gateway_core", "run", "--source", "jk_uart", "--sink", "pylontech",
        "--set", "jk_uart.port=jksim://?cells=16&soc=100", "--set", "pylontech.interface=virtual",
        "--set", f"limit_ladder.state_dir={tmp_path}", "--set", "gateway.period=0.05", "--cycles", "2",
        "--log-level", "info",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    first = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    assert "policy memory: no " in first.stderr
    saved = json.loads((tmp_path / "jk_uart.json").read_text())
    assert saved["charge"]["amps"] == 0  # a full pack: the charge limit was cut
    second = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert second.returncode == 0, second.stderr
    expected = "same boot" if read_boot_id() is not None else "the boot id is unknown"
    assert f"policy memory restored from {tmp_path / 'jk_uart.json'} ({expected}" in second.stderr
