"""Latency: last byte of a JK reply in the source's pty -> last CAN frame of that cycle out of ``slcan``.

The real loop (``MonotonicClock``, ``ThreadLane``, observer-free) runs the real plugins; the source
reads a pty served by :class:`~bench.ptys.JkPeer`, the sink writes slcan to a pty read by
:class:`~tests.support.slcan.SlcanAdapter`. Both peers stamp with ``time.perf_counter``.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import time


def bench_latency(cycles: int, period_s: float = 0.1, frame_gap_s: float | None = None) -> list[float]:
    """Milliseconds from each reply's last byte to the cycle's last frame (0x35E), one per cycle."""
    from gateway_core.clock import MonotonicClock
    from gateway_core.engine import Engine, PluginNames
    from gateway_core.lane import ThreadLane
    from gateway_core.loop import GatewayLoop
    from gateway_core.roles import PluginContext
    from gateway_core.sdnotify import SdNotifier
    from jk_uart.config import JkUartConfig
    from jk_uart.source import JkUartSource
    from limit_ladder.config import LadderConfig
    from limit_ladder.policy import LadderPolicy
    from pylontech_can.config import PylontechConfig
    from pylontech_can.sink import PylontechSink
    from tests.support.slcan import SlcanAdapter

    from .ptys import JkPeer

    clock = MonotonicClock()

    def ctx(name: str) -> PluginContext:
        return PluginContext(name, clock, logging.getLogger(f"bench.{name}"))

    jk, can = JkPeer(), SlcanAdapter(clock=time.perf_counter)
    sink_config = PylontechConfig(interface="slcan", channel=can.port, bus_options={"sleep_after_open": 0})
    if frame_gap_s is not None:
        sink_config = dataclasses.replace(sink_config, frame_gap_s=frame_gap_s)
    try:
        engine = Engine(
            JkUartSource(JkUartConfig(port=jk.port, timeout=period_s / 2), ctx("jk_uart")),
            LadderPolicy(LadderConfig(), ctx("limit_ladder")),
            PylontechSink(sink_config, ctx("pylontech")),
            names=PluginNames("jk_uart", "limit_ladder", "pylontech"),
            clock=clock,
            period_s=period_s,
            stale_after_s=5 * period_s,
            lane=ThreadLane(),
        )
        GatewayLoop(
            engine, clock=clock, period_s=period_s, sd_notify=SdNotifier(""), max_cycles=cycles + 5
        ).run()
        time.sleep(0.05)
    finally:
        jk.close()
        can.close()
    last_frames = [frame.at_s for frame in can.sent(0x35E)]
    figures = []
    for replied in jk.replied_at[5 : cycles + 5]:  # skip the first cycles (imports, first reading)
        index = bisect.bisect_right(last_frames, replied)
        if index < len(last_frames):
            figures.append((last_frames[index] - replied) * 1e3)
    return figures
