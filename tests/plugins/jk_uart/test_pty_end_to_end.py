"""End to end over a real pseudo-terminal: simulator <-> pty <-> source <-> engine fail-safe.

Covers every injected fault and an unplug/replug cycle; the engine's clock runs in real time (so
reply deadlines pass) and is pushed forward between cycles (so staleness and backoff need no waiting).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from gateway_core.backoff import Backoff
from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import SourceUnavailable
from gateway_core.model import CycleResult, Fault
from gateway_core.roles import PluginContext
from jk_uart.config import JkUartConfig
from jk_uart.pty_server import PtyServer
from jk_uart.simulator import SimulatedBms
from jk_uart.source import JkUartSource
from tests.fakes import FakeSink, FixedPolicy

from .helpers import SkewClock

STALE_S = 2.5
STEP_S = 1.0
BAUD = 115200  # replies keep real wire time: the source refuses faster ones as late replies


@dataclass
class Rig:
    sim: SimulatedBms
    server: PtyServer
    clock: SkewClock
    source: JkUartSource
    policy: FixedPolicy
    sink: FakeSink
    engine: Engine

    def cycles(self, n: int) -> list[CycleResult]:
        results = []
        for _ in range(n):
            results.append(self.engine.cycle())
            self.clock.advance(STEP_S)
        return results


@pytest.fixture
def rig(tmp_path):
    sim = SimulatedBms(cells=16, soc_pct=60, current_a=-10, trickle_byte_s=0.004)
    server = PtyServer(sim, link=str(tmp_path / "ttyJK"), speed=0, baud=BAUD)
    server.start()
    clock = SkewClock()
    source = JkUartSource(
        JkUartConfig(port=server.path, timeout=0.15), PluginContext("jk_uart", clock, logging.getLogger("t"))
    )
    policy, sink = FixedPolicy(), FakeSink()
    engine = Engine(
        source, policy, sink, names=PluginNames("jk_uart", "fixed", "fake"), clock=clock,
        period_s=10.0, stale_after_s=STALE_S, backoff=lambda: Backoff(initial_s=1.0, maximum_s=4.0),
    )  # fmt: skip
    engine.start()
    yield Rig(sim, server, clock, source, policy, sink, engine)
    engine.shutdown()
    server.stop()


def assert_running(results: list[CycleResult], policy: FixedPolicy) -> None:
    for result in results:
        assert result.reading is not None, result.problems
        assert result.limits == policy.limits


def test_readings_flow_through_the_pty(rig):
    results = rig.cycles(3)
    assert_running(results, rig.policy)
    reading = results[-1].reading
    assert reading is not None
    assert reading.cell_count == 16
    assert reading.current_a == -10.0
    assert reading.cell_voltages_v == rig.sim.status.cell_voltages_v


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("silence", "SourceTimeout"),
        ("garbage", "FrameError"),
        ("bad_checksum", "FrameError"),
        ("trickle", "SourceTimeout"),
    ],
)
def test_fault_engages_the_failsafe_and_clearing_it_releases(rig, fault, error):
    assert_running(rig.cycles(1), rig.policy)
    rig.sim.inject(fault)
    results = rig.cycles(4)
    assert all(any(error in p.message for p in r.problems) for r in results)
    # inside stale_after the last good reading still backs the policy; then stop limits
    assert [r.limits.fault for r in results] == [None, None, Fault.STALE_READING, Fault.STALE_READING]
    assert all(r.limits.is_stop and r.reading is None for r in results[2:])
    assert rig.sink.limits[-1].is_stop
    rig.sim.clear_faults()
    assert_running(rig.cycles(2), rig.policy)


@pytest.mark.parametrize("fault", ["split", "noise", "echo"])
def test_survivable_fault_keeps_the_limits(rig, fault):
    rig.sim.inject(fault)
    assert_running(rig.cycles(3), rig.policy)


def test_unplug_and_replug(rig, caplog):
    caplog.set_level(logging.DEBUG, logger="gateway.engine")
    assert_running(rig.cycles(1), rig.policy)
    rig.sim.unplug()
    assert rig.server.wait_state(plugged=False)
    opens = Counting(rig.source.open)
    rig.source.open = opens
    results = rig.cycles(8)
    # the open port itself reports the pulled adapter (EIO on the pty), as SourceUnavailable
    first = results[0].problems[0].message
    assert first.startswith("SourceUnavailable") and "not open" not in first
    assert all(r.problems for r in results)
    assert [r.limits.fault for r in results[:2]] == [None, None]  # last good reading still fresh
    assert all(r.limits.fault is Fault.STALE_READING and r.limits.is_stop for r in results[2:])
    assert opens.calls < 8  # reopened with backoff, not every cycle
    rig.sim.plug()
    assert rig.server.wait_state(plugged=True)
    rig.clock.advance(10.0)  # past the backoff delay
    assert_running(rig.cycles(2), rig.policy)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("lost" in m for m in warnings) == 1  # once per outage, not once per cycle
    assert sum("is back" in m for m in warnings) == 1


class Counting:
    """Wraps ``open`` to count the reopen attempts."""

    def __init__(self, func: Callable[[], None]) -> None:
        self.func = func
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        self.func()


def test_rs485_mode_on_a_pty_is_refused_clearly(rig):
    rig.source.close()  # the port is opened exclusively
    src = JkUartSource(
        JkUartConfig(port=rig.server.path, rs485=True),
        PluginContext("jk_uart", rig.clock, logging.getLogger("t")),
    )
    with pytest.raises(SourceUnavailable, match="RS485"):
        src.open()
    src.close()
