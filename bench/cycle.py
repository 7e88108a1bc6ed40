"""Benchmarks of the cycle: one engine cycle in-process, and the CPU the real loop costs per cycle.

Both use the real plugins: the JK simulator behind ``jksim://`` (the source's whole serial path),
the ladder policy, and the Pylontech sink on python-can's ``virtual`` bus.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

_channels = itertools.count()


class PacedClock:
    """The monotonic clock plus one period per :meth:`tick`: back-to-back cycles then look one period
    apart to the plugins (the ladder's 20 s current window holds 20 samples, as at 1 Hz)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Monotonic seconds, plus the ticks so far."""
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        """A real sleep (the sink's frame gap)."""
        if seconds > 0:
            time.sleep(seconds)

    def wake(self) -> None:
        """Nothing to wake."""

    def tick(self, period_s: float) -> None:
        """Let one period pass for the plugins."""
        self.offset += period_s


def _plugins(clock: Any, frame_gap_s: float, cells: int = 16) -> tuple[Any, Any, Any]:
    from gateway_core.roles import PluginContext
    from jk_uart.config import JkUartConfig
    from jk_uart.source import JkUartSource
    from limit_ladder.config import LadderConfig
    from limit_ladder.policy import LadderPolicy
    from pylontech_can.config import PylontechConfig
    from pylontech_can.sink import PylontechSink

    def ctx(name: str) -> PluginContext:
        return PluginContext(name, clock, logging.getLogger(f"bench.{name}"))

    channel = f"bench-cycle-{next(_channels)}"
    source = JkUartSource(JkUartConfig(port=f"jksim://?cells={cells}&current=-10&soc=60"), ctx("jk_uart"))
    policy = LadderPolicy(LadderConfig(), ctx("limit_ladder"))
    sink = PylontechSink(
        PylontechConfig(interface="virtual", channel=channel, frame_gap_s=frame_gap_s), ctx("pylontech")
    )
    return source, policy, sink


def bench_engine_cycle(repeats: int, cycles: int = 200, frame_gap_s: float = 0.0) -> list[float]:
    """CPU µs per ``Engine.cycle()`` (source to frames on the virtual bus), one figure per repeat.

    CPU time (``time.thread_time``), not wall time: the simulator waits out the UART's wire time
    and the sink its frame gaps, and neither costs CPU.
    """
    from gateway_core.engine import Engine, PluginNames
    from gateway_core.lane import InlineLane

    clock = PacedClock()
    source, policy, sink = _plugins(clock, frame_gap_s)
    engine = Engine(
        source,
        policy,
        sink,
        names=PluginNames("jk_uart", "limit_ladder", "pylontech"),
        clock=clock,
        period_s=1.0,
        lane=InlineLane(clock),
    )
    engine.start()
    for _ in range(30):  # warm up: imports, first reading, the ladder's window filled
        engine.cycle()
        clock.tick(1.0)
    figures = []
    for _ in range(repeats):
        elapsed = 0.0
        for _ in range(cycles):
            start = time.thread_time()
            result = engine.cycle()
            elapsed += time.thread_time() - start
            clock.tick(1.0)
        figures.append(elapsed / cycles * 1e6)
        if not result.published or result.limits.is_stop:
            raise RuntimeError(f"bench cycle did not publish limits: {result.problems}")
    engine.shutdown()
    return figures


def bench_loop_cpu(cycles: int, period_s: float, block: int) -> list[float]:
    """CPU seconds (all threads) per 1,000 cycles of the real threaded loop at ``period_s``.

    Builds the gateway as ``gateway run`` does (plugin manager, config, ThreadLane, observer thread)
    and samples ``time.process_time`` every ``block`` cycles.
    """
    from gateway_core.plugins import make_plugin_manager
    from gateway_core.runner import build_gateway
    from gateway_core.sdnotify import SdNotifier

    marks: list[float] = []

    def on_cycle(result: Any) -> None:
        if result.cycle % block == 0:
            marks.append(time.process_time())

    overrides = [
        'gateway.source="jk_uart"',
        'gateway.sink="pylontech"',
        'jk_uart.port="jksim://?cells=16&current=-10&soc=60"',
        'pylontech.interface="virtual"',
        f'pylontech.channel="bench-loop-{next(_channels)}"',
        f"gateway.period={period_s}",
        f"gateway.stale_after={max(5.0, period_s)}",
    ]
    gateway = build_gateway(
        make_plugin_manager(),
        config_path=None,
        overrides=overrides,
        max_cycles=cycles,
        sd_notify=SdNotifier(""),
        on_cycle=on_cycle,
    )
    gateway.loop.run()
    steps = [b - a for a, b in itertools.pairwise(marks)]
    return [step / block * 1000 for step in steps]
