"""The charge limit override end to end: an MQTT command lowers what the sink is given, then expires."""

from __future__ import annotations

import logging

import pytest

from gateway_core.engine import Engine, PluginNames
from gateway_core.model import GatewayState
from gateway_core.notifier import ObserverNotifier
from gateway_core.plugins import make_plugin_manager
from gateway_core.runner import make_adjuster
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy
from tests.plugins.mqtt_observer.conftest import wait_until
from tests.plugins.mqtt_observer.helpers import ALLOW, make_observer

BASE = "battery-gateway/testbat"
COMMAND = f"{BASE}/command/charge_limit"
STATE = f"{BASE}/state"


class Rig:
    """The real engine with the core's ``gateway_adjust_limits`` chain and the observer registered."""

    def __init__(self, port: int, **config: object) -> None:
        self.clock = FakeClock()
        self.sink = FakeSink(self.clock)
        self.pm = make_plugin_manager(entry_points=False)
        self.observer = make_observer(self.clock, port=port, **config)
        self.pm.register(self.observer, name="observer:mqtt")
        self.engine = Engine(
            FakeSource(self.clock),
            FixedPolicy(),
            self.sink,
            names=PluginNames("fake", "fixed", "memory"),
            clock=self.clock,
            adjust=make_adjuster(self.pm),
        )
        self.notifier = ObserverNotifier(self.pm, threaded=False)
        self.engine.start()

    def cycle(self, advance: float = 1.0) -> float:
        self.clock.advance(advance)
        self.notifier.submit(self.engine.cycle())
        return self.sink.limits[-1].charge_current_a


@pytest.fixture
def rig(broker, subscriber):
    rig = Rig(broker.port, accept_commands=True)
    rig.cycle()
    subscriber.wait_for(STATE)  # sent after the observer subscribed, on the same connection
    yield rig
    rig.observer.close()


def test_command_lowers_the_charge_limit_until_it_expires(rig, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    subscriber.publish(COMMAND, '{"charge_current_a": 20, "duration_s": 30}')
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the override")
    assert rig.cycle() == 20.0
    limits = rig.sink.limits[-1]
    assert limits.discharge_current_a == 60.0 and limits.fault is None
    assert "charge 20 A: MQTT override (policy allowed 50 A)" in limits.reasons
    state = subscriber.wait_for(STATE, lambda m: m.json()["override"] is not None).json()
    assert state["override"]["charge_current_a"] == 20.0
    assert state["limits"]["charge_current_a"] == 20.0
    assert rig.cycle(advance=10) == 20.0
    assert rig.cycle(advance=25) == 50.0  # 36 s after the command: expired by itself
    assert any("override expired" in r.getMessage() for r in caplog.records)
    subscriber.wait_for(STATE, lambda m: m.json()["override"] is None and m.json()["cycle"] == 4)


def test_an_override_above_the_policy_changes_nothing(rig, subscriber):
    subscriber.publish(COMMAND, "80")
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the override")
    assert rig.cycle() == 50.0
    assert rig.sink.limits[-1] == FixedPolicy().limits


def test_zero_stops_charging_but_not_discharging(rig, subscriber):
    subscriber.publish(COMMAND, "0")
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the override")
    rig.cycle()
    limits = rig.sink.limits[-1]
    assert limits.charge_current_a == 0 and limits.discharge_current_a == 60.0
    assert not limits.is_stop and limits.fault is None


def test_bad_and_retained_commands_are_refused_and_clear_ends_it(rig, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    subscriber.publish(COMMAND, "-5")
    subscriber.publish(COMMAND, '{"charge_current_a": 5, "duration_s": 999999}')
    wait_until(lambda: rig.observer.commands_refused == 2, what="two refusals")
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == [
        "charge limit override refused: charge_current_a = -5 is out of range; accepted: 0 to 10000 A"
    ]
    rig.cycle(advance=60.0)  # the second one is in the summary, once the minute is over
    summary = [
        r.getMessage() for r in caplog.records if "1 more charge limit commands refused" in r.getMessage()
    ]
    assert len(summary) == 1 and "duration_s = 999999 is out of range" in summary[0]
    # a retained command applies once, live; its retained copy, replayed by the broker on a new
    # subscription (as after every reconnect), is flagged retained and ignored
    subscriber.publish(COMMAND, "10", retain=True)
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the live command")
    subscriber.publish(COMMAND, "clear")
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is None, what="the override to clear")
    rig.observer._client.subscribe(COMMAND, qos=1)
    wait_until(
        lambda: any("ignoring a retained" in r.getMessage() for r in caplog.records),
        what="the retained copy to be ignored",
    )
    subscriber.publish(COMMAND, b"", retain=True)  # remove it from the broker
    assert rig.observer.overrides.get(rig.clock.now()) is None
    assert rig.cycle() == 50.0
    subscriber.publish(COMMAND, "5")
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the override")
    assert rig.cycle() == 5.0
    subscriber.publish(COMMAND, "clear")
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is None, what="the override to clear")
    assert rig.cycle() == 50.0


def test_commands_are_off_by_default(broker, subscriber):
    rig = Rig(broker.port)
    try:
        rig.cycle()
        subscriber.wait_for(STATE)
        voltage = "homeassistant/sensor/battery_gateway_testbat/voltage/config"
        before = len(subscriber.on(voltage))
        subscriber.publish(COMMAND, "5")
        # the observer is subscribed to the HA status topic; once that message is handled, the
        # command (sent earlier by the same client) would have been too, had it been subscribed
        subscriber.publish("homeassistant/status", "online")
        wait_until(lambda: len(subscriber.on(voltage)) > before, what="discovery sent again")
        assert rig.observer.overrides.get(rig.clock.now()) is None
        assert rig.cycle() == 50.0
        assert rig.observer.gateway_adjust_limits(ALLOW, GatewayState(rig.clock.now(), 1)) is None
    finally:
        rig.observer.close()
