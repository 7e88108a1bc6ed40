"""The per-cycle path of the real plugins imports nothing, loads no DBC and sleeps for no fixed time.

Guards what the benchmarks showed (docs/benchmarks.md): after start-up a cycle is only reading,
deciding and sending. The one deliberate wait is the sink's configurable frame spacing
(``pylontech.frame_gap_s``), done on the injected clock and absent when set to 0.
"""

from __future__ import annotations

import itertools
import logging
import sys

import pytest

from gateway_core.engine import Engine, PluginNames
from gateway_core.roles import PluginContext
from jk_uart.config import JkUartConfig
from jk_uart.source import JkUartSource
from limit_ladder.config import LadderConfig
from limit_ladder.policy import LadderPolicy
from pylontech_can.config import PylontechConfig
from pylontech_can.layout import frame_layouts
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock

CYCLES = 200
_channels = itertools.count()


@pytest.mark.parametrize("gap", [0.0, 0.002])
def test_cycles_import_nothing_reload_nothing_and_sleep_only_the_frame_gap(gap):
    clock = FakeClock()

    def ctx(name: str) -> PluginContext:
        return PluginContext(name, clock, logging.getLogger(f"gateway.{name}"))

    channel = f"reliability-cycle-path-{next(_channels)}"
    engine = Engine(
        JkUartSource(JkUartConfig(port="jksim://?cells=16&current=-10&soc=60"), ctx("jk_uart")),
        LadderPolicy(LadderConfig(), ctx("limit_ladder")),
        PylontechSink(
            PylontechConfig(interface="virtual", channel=channel, frame_gap_s=gap), ctx("pylontech")
        ),
        names=PluginNames("jk_uart", "limit_ladder", "pylontech"),
        clock=clock,
    )
    engine.start()
    for _ in range(3):  # the first cycles may import lazily (python-can's virtual bus, the DBC)
        engine.cycle()
        clock.advance(1.0)
    layouts_read = frame_layouts.cache_info().misses
    modules = set(sys.modules)
    clock.sleeps.clear()
    results = []
    for _ in range(CYCLES):
        results.append(engine.cycle())
        clock.advance(1.0)
    engine.shutdown()
    assert all(r.published and not r.limits.is_stop for r in results)
    assert set(sys.modules) - modules == set()
    assert frame_layouts.cache_info().misses == layouts_read  # no DBC file read again
    assert clock.sleeps == pytest.approx([gap] * 5 * (CYCLES + 1) if gap else [])  # + the shutdown's stop set
