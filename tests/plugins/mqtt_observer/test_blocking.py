"""A broker that accepts and never answers must never delay a cycle (no mosquitto needed).

Two kinds of hang: plain MQTT (the CONNACK never comes) and TLS (paho's network thread sits in the
handshake for ``connect_timeout_s``). The observer is called *inline on the loop thread* (and, as
in production, on the observer thread), so any wait on the network would stall the loop itself.
The bound below (a join timeout) is far shorter than the hang, and no duration is asserted: the
schedule is checked on the injected clock.
"""

from __future__ import annotations

import itertools
import threading

import pytest

from gateway_core import hookimpl
from gateway_core.engine import Engine, PluginNames
from gateway_core.loop import GatewayLoop
from gateway_core.model import CycleResult
from gateway_core.notifier import ObserverNotifier
from gateway_core.plugins import make_plugin_manager
from mqtt_observer.observer import MqttObserver
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy
from tests.plugins.mqtt_observer.conftest import wait_until
from tests.plugins.mqtt_observer.helpers import make_observer, make_result

CYCLES = 300
RESULTS = CYCLES + 1  # the loop also hands the observers the result of its final stop publish
HANG_S = 60.0  # how long paho's thread is stuck in the TLS handshake
BOUND_S = 15.0  # the whole run must end well before that


class Counting:
    """Registered in place of the observer: forwards each result and records the calls that returned."""

    def __init__(self, observer: MqttObserver) -> None:
        self.observer = observer
        self.returned: list[int] = []

    @hookimpl
    def gateway_cycle_completed(self, result: CycleResult) -> None:
        self.observer.gateway_cycle_completed(result)
        self.returned.append(result.cycle)


def run_loop(
    observer: MqttObserver, clock: FakeClock, *, threaded: bool
) -> tuple[Counting, ObserverNotifier]:
    sink = FakeSink(clock)
    engine = Engine(
        FakeSource(clock),
        FixedPolicy(),
        sink,
        names=PluginNames("fake", "fixed", "memory"),
        clock=clock,
        period_s=1.0,
        stale_after_s=5.0,
    )
    pm = make_plugin_manager(entry_points=False)
    counting = Counting(observer)
    pm.register(counting, name="observer:mqtt")
    notifier = ObserverNotifier(pm, threaded=threaded)
    loop = GatewayLoop(engine, clock=clock, period_s=1.0, notifier=notifier, max_cycles=CYCLES)
    runner = threading.Thread(target=loop.run, daemon=True)
    runner.start()
    runner.join(BOUND_S)
    assert not runner.is_alive(), "the loop was held up by the MQTT observer"
    assert loop.cycles == CYCLES and loop.skipped_slots == 0
    times = sink.publish_times[:CYCLES]
    assert [b - a for a, b in itertools.pairwise(times)] == [1.0] * (CYCLES - 1)
    assert notifier.errors == 0
    return counting, notifier


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "observer-thread"])
def test_broker_that_never_answers_does_not_delay_cycles(blackhole, threaded):
    clock = FakeClock()
    observer = make_observer(clock, port=blackhole.port, interval_s=1.0)
    try:
        counting, notifier = run_loop(observer, clock, threaded=threaded)
        if threaded:  # every result was delivered, or dropped by the core's bounded queue
            assert len(counting.returned) + notifier.dropped == RESULTS
            assert counting.returned == sorted(counting.returned)
        else:
            assert counting.returned == list(range(1, RESULTS + 1))
        wait_until(lambda: blackhole.accepted, what="paho to reach the hung broker")
        assert not observer.connected and observer.states_published == 0
    finally:
        observer.close()


def test_tls_handshake_stuck_on_the_network_thread_does_not_delay_cycles(blackhole):
    clock = FakeClock()
    observer = make_observer(clock, port=blackhole.port, tls=True, connect_timeout_s=HANG_S)
    try:
        observer.gateway_cycle_completed(make_result(clock, 0))  # starts paho's thread
        wait_until(lambda: blackhole.accepted, what="paho to open the TLS connection")
        paho_thread = observer._client._thread
        assert paho_thread is not None and paho_thread.is_alive()  # inside do_handshake()
        counting, _ = run_loop(observer, clock, threaded=False)
        assert counting.returned == list(range(1, RESULTS + 1))  # every call returned meanwhile
        assert paho_thread.is_alive() and not observer.connected  # still stuck in the handshake
    finally:
        observer.close()  # bounded: does not wait out the handshake
