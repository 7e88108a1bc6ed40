"""Process level: the installed ``gateway run`` against a simulated BMS and a fake slcan adapter on ptys.

The test process serves the JK simulator on one pty and plays the CAN adapter on another (python-can's
``virtual`` bus does not cross processes; ``udp_multicast`` needs msgpack and a multicast route, so
the bus is ``slcan`` over a pty: real python-can, real serial I/O, localhost only).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jk_uart.pty_server import PtyServer
from jk_uart.simulator import SimulatedBms
from tests.support.slcan import BusFrame, SlcanAdapter

PERIOD = 0.2
JK_BAUD = 115200  # the pty keeps a real line's wire time: the source refuses faster (late) replies
GATEWAY = shutil.which("gateway", path=os.path.dirname(sys.executable))


class Bench:
    """A BMS and a CAN adapter on ptys, and the gateway processes started against them."""

    def __init__(self, tmp_path: Path) -> None:
        self.sim = SimulatedBms(cells=16, soc_pct=60.0)
        self.jk = PtyServer(self.sim, link=str(tmp_path / "jk-bms"), speed=0, baud=JK_BAUD)
        self.jk.start()
        self.can = SlcanAdapter(str(tmp_path / "can-adapter"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = tmp_path / "gateway.log"

    def command(self) -> list[str]:
        assert GATEWAY, "the gateway script is not installed next to this Python"
        sets = [
            f"jk_uart.port={self.jk.path}",
            f"jk_uart.timeout={PERIOD / 2}",
            "pylontech.interface=slcan",
            f"pylontech.channel={self.can.link}",
            "pylontech.bus_options={sleep_after_open = 0}",
            f"gateway.period={PERIOD}",
            f"gateway.stale_after={5 * PERIOD}",
        ]
        args = [GATEWAY, "run", "--source", "jk_uart", "--sink", "pylontech"]
        for item in sets:
            args += ["--set", item]
        return args

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            proc = subprocess.Popen(self.command(), stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def limits_frames(self, since: int = 0, count: int = 1) -> list[BusFrame]:
        """0x351 frames from index ``since``, waiting (bounded) until ``count`` of them arrived."""
        return self.can.wait_for(0x351, since + count, timeout_s=30.0)[since:]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.jk.stop()
        self.can.close()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    made = Bench(tmp_path)
    yield made
    made.close()


def quiet_after(bench: Bench, count: int, cycles: int = 3) -> bool:
    """True when no 0x351 beyond the first ``count`` arrives for ``cycles`` periods."""
    time.sleep(cycles * PERIOD)
    return len(bench.can.sent(0x351)) == count


def test_sigkill_and_restart_resumes_on_the_first_cycle(bench):
    first = bench.start()
    frames = bench.limits_frames(count=5)
    assert len(frames) == 5 and frames[-1].allows_current, bench.log.read_text()
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    killed_at = len(bench.can.sent(0x351))
    # a killed gateway sends nothing more: the inverter's own timeout takes over (no kernel sender)
    assert quiet_after(bench, killed_at)
    bench.start()
    resumed = bench.limits_frames(since=killed_at, count=4)
    assert len(resumed) == 4, bench.log.read_text()
    # the restarted gateway's first cycle already published limits from a fresh reading: nothing
    # (port lock, stale state) kept it from resuming within its first period
    assert resumed[0].allows_current
    # and it keeps its period: one set per cycle, each set complete
    sets = [f for f in bench.can.sent() if f.at_s >= resumed[0].at_s and f.at_s <= resumed[-1].at_s]
    assert [f.arbitration_id for f in sets[:6]] == [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E]


def test_sigterm_leaves_stop_limits_as_the_last_frames(bench):
    proc = bench.start()
    frames = bench.limits_frames(count=4)
    assert len(frames) == 4 and all(f.allows_current for f in frames[1:]), bench.log.read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    last = bench.can.sent()
    assert quiet_after(bench, len(bench.can.sent(0x351)))
    limits = [f for f in last if f.arbitration_id == 0x351]
    requests = [f for f in last if f.arbitration_id == 0x35C]
    assert not limits[-1].allows_current
    assert requests[-1].data[0] & 0xC0 == 0  # charge and discharge enable cleared
    # the stop set is the very last set: nothing after its 0x351 but the rest of that set
    tail = last[last.index(limits[-1]) :]
    assert [f.arbitration_id for f in tail] == [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E]
    assert "stopping" in bench.log.read_text() or "stopped" in bench.log.read_text()
