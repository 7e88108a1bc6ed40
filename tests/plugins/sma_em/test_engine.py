"""The sma_em meter inside the real engine: the value reaches the policy's state, silence makes it absent.

Datagrams go to 127.0.0.1 only; the engine runs on a fake clock, the meter's socket in real time.
"""

from __future__ import annotations

import logging

from gateway_core.engine import Engine, MeterSpec, PluginNames
from gateway_core.roles import PluginContext
from sma_em.config import SmaEmConfig
from sma_em.meter import SmaEmMeter
from sma_em.simulate import grid_datagram
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy

from .helpers import free_udp_port, send, wait_until

STALE_S = 10.0


def test_a_datagram_reaches_the_policy_and_silence_makes_the_meter_absent():
    clock = FakeClock(start=1000.0)
    port = free_udp_port()
    meter = SmaEmMeter(
        SmaEmConfig(group="", listen=f"127.0.0.1:{port}"),
        PluginContext("sma_em", clock, logging.getLogger("t.sma_em"), plugin="sma_em"),
    )
    policy = FixedPolicy()  # records the state each decision saw
    engine = Engine(
        FakeSource(clock), policy, FakeSink(clock), names=PluginNames("fake", "fixed", "fake"), clock=clock,
        period_s=1.0, stale_after_s=5.0, meter=MeterSpec("sma_em", meter), meter_stale_after_s=STALE_S,
    )  # fmt: skip
    engine.start()
    try:
        send(port, grid_datagram(-600.0))
        wait_until(lambda: meter.latest() is not None, "the meter's first value")
        clock.advance(1.0)
        result = engine.cycle()
        assert result.meter is not None and result.meter.grid_power_w == -600.0
        assert result.meter_age_s == 1.0
        assert policy.states[-1].meter == result.meter and policy.states[-1].meter_age_s == 1.0
        clock.advance(STALE_S)  # no datagram for longer than meter_stale_after
        result = engine.cycle()
        assert result.meter is None and result.meter_age_s is None
        assert policy.states[-1].meter is None
        send(port, grid_datagram(600.0))
        wait_until(lambda: meter.latest() is not None and meter.latest().grid_power_w == 600.0, "a new value")
        result = engine.cycle()
        assert result.meter is not None and result.meter.grid_power_w == 600.0
    finally:
        engine.shutdown()
