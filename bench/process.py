"""The gateway as a process: start-up time to the first CAN frame, and its peak RSS.

Runs the installed ``gateway run`` (the console script next to this Python) with the JK simulator
behind ``jksim://`` and the Pylontech sink on ``slcan`` over a pty read by
:class:`~tests.support.slcan.SlcanAdapter`; python-can's default 2 s ``sleep_after_open`` for slcan
adapters is turned off, since it waits for an Arduino-style board to reset and says nothing about the
gateway.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    """One run: seconds from spawn to the first frame, peak and current RSS in MiB."""

    startup_s: float
    peak_rss_mib: float
    rss_mib: float


def gateway_script() -> str:
    """Path of the installed ``gateway`` script. :raises RuntimeError: not installed."""
    path = shutil.which("gateway", path=os.path.dirname(sys.executable))
    if path is None:
        raise RuntimeError("the gateway script is not installed next to this Python (pip install -e .)")
    return path


def _status_kib(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return float("nan")


def run_once(cycles_after_start: int = 10, period_s: float = 0.2) -> ProcessFigures:
    """Start the gateway, time its first frame, let it run, read its RSS, stop it with SIGTERM."""
    from tests.support.slcan import SlcanAdapter

    can = SlcanAdapter(clock=time.perf_counter)
    args = [gateway_script(), "run", "--source", "jk_uart", "--sink", "pylontech", "--log-level", "warning"]
    for item in (
        "jk_uart.port=jksim://?cells=16&current=-10&soc=60",
        "pylontech.interface=slcan",
        f"pylontech.channel={can.port}",
        "pylontech.bus_options={sleep_after_open = 0}",
        f"gateway.period={period_s}",
    ):
        args += ["--set", item]
    try:
        spawned = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not can.wait_for(1, timeout_s=30.0):
            proc.kill()
            raise RuntimeError(f"no frame from the gateway: {proc.communicate()[1].decode()[-500:]}")
        time.sleep(cycles_after_start * period_s)
        peak = _status_kib(proc.pid, "VmHWM") / 1024
        rss = _status_kib(proc.pid, "VmRSS") / 1024
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    finally:
        can.close()
    return ProcessFigures(can.sent()[0].at_s - spawned, peak, rss)


def bench_process(repeats: int) -> list[ProcessFigures]:
    """``repeats`` runs of :func:`run_once`."""
    return [run_once() for _ in range(repeats)]


def bench_import_time(repeats: int) -> list[float]:
    """Seconds for a bare ``python -c "import gateway_core.cli"`` (the floor of any start-up)."""
    figures = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import gateway_core.cli"], check=True)
        figures.append(time.perf_counter() - start)
    return figures
