"""The gateway as a process: start to first frame, CPU per cycle, latency and peak RSS.

Runs the installed ``gateway run`` (the console script next to this Python) from a config file, with
one :class:`~bench.ptys.JkPeer` per pack on its own pty. The sink is either ``slcan`` on a pty read by
:class:`~tests.support.slcan.SlcanAdapter` (a CANable's protocol; its settings are the defaults, so
``slcan_open_wait_s`` is what a CANable user gets) or python-can's ``udp_multicast``, heard by a bus
in this process. CPU is what the kernel accounts to every thread of the gateway
(``/proc/PID/task/*/schedstat``, in ns), so polling threads, python-can's receive path and logging
are all in it; this process only sleeps while it is measured.
"""

from __future__ import annotations

import bisect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.slcan import BusFrame, SlcanAdapter

    from .ptys import JkPeer

#: Cycles after the first frame before anything is measured (imports, first readings, the ladder).
WARMUP_CYCLES = 10


@dataclass(frozen=True, slots=True)
class Setup:
    """One configuration of ``gateway run`` to measure (None: the setting's default)."""

    packs: int = 1
    frame_gap_s: float | None = None
    chunk_bytes: int | None = None  # the JK reply streams in pieces of this size (a USB adapter)
    interface: str = "slcan"  # or "udp_multicast"
    period_s: float = 0.2


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One run: start-up to the first frame (s), peak RSS (MiB), per-block CPU per cycle (ms, whole
    process and main thread) and per-cycle latency (ms)."""

    startup_s: float
    peak_rss_mib: float
    cpu_ms: tuple[float, ...] = ()
    main_cpu_ms: tuple[float, ...] = ()
    latency_ms: tuple[float, ...] = ()


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


def _cpu_ns(pid: int) -> tuple[int, int]:
    """On-CPU ns of all of ``pid``'s threads, and of its main thread."""
    total = main = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as stat:
                ns = int(stat.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
        total += ns
        if int(tid) == pid:
            main = ns
    return total, main


def _config(setup: Setup, jk_ports: Sequence[str], channel: str) -> str:
    lines = ["[gateway]", f"period = {setup.period_s}", 'sink = "pylontech"']
    names = [f"pack{i + 1}" for i in range(len(jk_ports))]
    if len(names) == 1:
        lines += ['source = "jk_uart"', "", "[jk_uart]", f'port = "{jk_ports[0]}"']
    else:
        lines.append("sources = [" + ", ".join(f'"{name}"' for name in names) + "]")
        for name, port in zip(names, jk_ports, strict=True):
            lines += ["", f"[{name}]", 'plugin = "jk_uart"', f'port = "{port}"']
    lines += ["", "[pylontech]", f'interface = "{setup.interface}"', f'channel = "{channel}"']
    if setup.frame_gap_s is not None:
        lines.append(f"frame_gap_s = {setup.frame_gap_s}")
    return "\n".join(lines) + "\n"


class _UdpWatch:
    """Hears ``udp_multicast`` frames in this process; notes when the first one arrived."""

    def __init__(self) -> None:
        import can
        from can.interfaces.udp_multicast import UdpMulticastBus

        self.channel = UdpMulticastBus.DEFAULT_GROUP_IPv4
        self._bus = can.Bus(interface="udp_multicast", channel=self.channel)
        self.first_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-udp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._bus.recv(0.05) is not None and self.first_at is None:
                self.first_at = time.perf_counter()

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(2)
        self._bus.shutdown()


def _wait(
    condition: Callable[[], object], proc: subprocess.Popen[bytes], errors: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the gateway sent too little: {errors.read_text()[-800:]}")
        time.sleep(0.005)


def run(setup: Setup, cycles: int = 0, blocks: int = 10) -> RunFigures:
    """Start the gateway for ``setup``, time its first frame, measure ``cycles`` cycles in ``blocks``
    blocks (slcan only), read its peak RSS and stop it with SIGTERM.

    :raises RuntimeError: the gateway failed, fell silent, or sent stop limits while measured.
    """
    from tests.support.slcan import SlcanAdapter

    from .ptys import JkPeer

    peers = [JkPeer(chunk_bytes=setup.chunk_bytes) for _ in range(setup.packs)]
    adapter, udp = (
        (SlcanAdapter(clock=time.perf_counter), None) if setup.interface == "slcan" else (None, _UdpWatch())
    )
    channel = adapter.port if adapter is not None else udp.channel if udp is not None else ""
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as scratch:
        config = Path(scratch, "gateway.toml")
        config.write_text(_config(setup, [peer.port for peer in peers], channel))
        errors = Path(scratch, "stderr")
        try:
            with errors.open("wb") as stderr:
                spawned = time.perf_counter()
                proc = subprocess.Popen(
                    [gateway_script(), "run", "--config", str(config), "--log-level", "warning"],
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
                _wait(lambda: _first_frame_at(adapter, udp), proc, errors, 30.0)
                first_at = _first_frame_at(adapter, udp) or 0.0
                figures = _measure(setup, proc, errors, adapter, peers, cycles, blocks)
                peak = _status_kib(proc.pid, "VmHWM") / 1024
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
        finally:
            for peer in peers:
                peer.close()
            if adapter is not None:
                adapter.close()
            if udp is not None:
                udp.close()
    return RunFigures(first_at - spawned, peak, *figures)


def _first_frame_at(adapter: SlcanAdapter | None, udp: _UdpWatch | None) -> float | None:
    if adapter is not None:
        sent = adapter.sent()
        return sent[0].at_s if sent else None
    return udp.first_at if udp is not None else None


def _measure(
    setup: Setup,
    proc: subprocess.Popen[bytes],
    errors: Path,
    adapter: SlcanAdapter | None,
    peers: Sequence[JkPeer],
    cycles: int,
    blocks: int,
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """CPU per cycle per block, and latency per cycle, over ``cycles`` cycles after the warm-up."""
    if adapter is None or cycles <= 0:
        time.sleep(WARMUP_CYCLES * setup.period_s)  # run a little, so the peak RSS is a running one
        return (), (), ()

    def limits() -> int:
        return len(adapter.sent(0x351))

    _wait(lambda: limits() >= WARMUP_CYCLES, proc, errors, 30.0)
    started_at = time.perf_counter()
    cpu, main = [], []
    block_s = cycles / blocks * setup.period_s
    count, (total_ns, main_ns) = limits(), _cpu_ns(proc.pid)
    for _ in range(blocks):
        time.sleep(block_s)
        now_count, (now_total, now_main) = limits(), _cpu_ns(proc.pid)
        if now_count <= count or proc.poll() is not None:
            raise RuntimeError(f"the gateway fell silent: {errors.read_text()[-800:]}")
        cpu.append((now_total - total_ns) / (now_count - count) / 1e6)
        main.append((now_main - main_ns) / (now_count - count) / 1e6)
        count, total_ns, main_ns = now_count, now_total, now_main
    frames = adapter.sent()
    if not all(frame.allows_current for frame in adapter.sent(0x351)[WARMUP_CYCLES:]):
        raise RuntimeError(f"the gateway sent stop limits while measured: {errors.read_text()[-800:]}")
    return tuple(cpu), tuple(main), _latencies(frames, peers, started_at)


def _latencies(frames: Sequence[BusFrame], peers: Sequence[JkPeer], since: float) -> tuple[float, ...]:
    """Per cycle: ms from the cycle's last reply (of any pack) to the set's last frame."""
    ids = [frame.arbitration_id for frame in frames]
    last_id = ids[ids.index(0x351, 1) - 1]  # the frame just before the second 0x351
    replies = sorted(at for peer in peers for at in peer.replied_at)
    figures = []
    previous_end = since
    for frame in frames:
        if frame.arbitration_id != last_id or frame.at_s < since:
            continue
        index = bisect.bisect_left(replies, frame.at_s)
        if index and replies[index - 1] >= previous_end:
            figures.append((frame.at_s - replies[index - 1]) * 1e3)
        previous_end = frame.at_s
    return tuple(figures)


def bench_import_time(repeats: int) -> list[float]:
    """Seconds for a bare ``python -c "import gateway_core.cli"`` (the floor of any start-up)."""
    figures = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import gateway_core.cli"], check=True)
        figures.append(time.perf_counter() - start)
    return figures
