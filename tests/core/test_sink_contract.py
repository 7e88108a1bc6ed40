"""The fail-safe contract every inverter sink inherits by registering a simulated peer.

For each registered sink with ``simulator=``, the real sink publishes to its peer (the inverter's
side of the link), and the peer says what each message it received permits.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway_core.model import Fault, LimitFlag, Limits
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import PluginContext
from gateway_core.settings import build_section
from tests.fakes import FakeClock, make_reading

REGISTRY = collect_registrations(make_plugin_manager())
SINKS = sorted(n for n, r in REGISTRY.entries.items() if r.role == "sink" and r.simulator is not None)
GRANT = Limits(50.0, 60.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("test grant",))


class FreezingClock(FakeClock):
    """Jumps ``jump_s`` forward at the ``at``-th reading after :meth:`arm` (a SIGSTOP mid-set)."""

    def __init__(self) -> None:
        super().__init__()
        self.countdown: int | None = None
        self.jump_s = 0.0

    def arm(self, at: int, jump_s: float) -> None:
        self.countdown, self.jump_s = at, jump_s

    def now(self) -> float:
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown <= 0:
                self.countdown = None
                self.advance(self.jump_s)
        return super().now()


def build(name: str, clock: FakeClock) -> tuple[Any, Any]:
    reg = REGISTRY.entries[name]
    assert reg.simulator is not None
    peer = reg.simulator()
    config: Any = build_section(reg.config, name, peer.sink_settings())
    ctx = PluginContext(name, clock, logging.getLogger(f"contract.{name}"), plugin=name, period_s=1.0)
    sink: Any = reg.factory(config, ctx)
    sink.open()
    return sink, peer


@pytest.fixture(params=SINKS)
def name(request):
    return request.param


def test_the_builtin_sinks_have_peers():
    assert "pylontech" in SINKS


def test_a_grant_reaches_the_peer_and_stop_limits_take_it_back(name):
    clock = FakeClock()
    sink, peer = build(name, clock)
    try:
        sink.publish(make_reading(clock), GRANT)
        assert any(g.permits for g in peer.grants())
        sink.publish(None, Limits.stop("test", Fault.STALE_READING))
        grants = peer.grants()
        assert grants and not grants[-1].permits
    finally:
        sink.close()
        peer.close()


@pytest.mark.parametrize("at", [1, 2, 3, 5])
def test_a_freeze_mid_set_never_leaves_a_permission_from_the_old_decision(name, at):
    clock = FreezingClock()
    sink, peer = build(name, clock)
    try:
        sink.publish(make_reading(clock), GRANT)
        peer.grants()
        reading = make_reading(clock)
        clock.arm(at, 7.0)  # the process stops for 7 s somewhere inside the next set
        sink.publish(reading, GRANT)
        grants = peer.grants()
        assert grants, "the sink sent nothing at all"
        assert not grants[-1].permits, "the set ended with the old permission after a 7 s freeze"
    finally:
        sink.close()
        peer.close()
