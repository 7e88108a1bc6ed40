"""The observer against a real mosquitto: discovery, state, availability, outages and commands."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
from dataclasses import replace

from typer.testing import CliRunner

import mqtt_observer
from gateway_core.cli import build_app
from gateway_core.engine import Engine, PluginNames
from gateway_core.loop import GatewayLoop
from gateway_core.model import Alarm
from gateway_core.notifier import ObserverNotifier
from gateway_core.plugins import make_plugin_manager
from tests.core.helpers import ScriptedPlugins, manager_with
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy, make_reading
from tests.plugins.mqtt_observer.conftest import PacedClock, Subscriber, wait_until
from tests.plugins.mqtt_observer.helpers import ALLOW, make_observer, make_result

BASE = "battery-gateway/testbat"
STATE = f"{BASE}/state"
AVAILABILITY = f"{BASE}/availability"
NODE = "homeassistant/{}/battery_gateway_testbat/{}/config"


def test_discovery_state_and_availability_reach_a_subscriber(broker, subscriber):
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port)
    reading = replace(make_reading(clock), alarms=frozenset({Alarm.CELL_OVERVOLTAGE}))
    try:
        observer.gateway_cycle_completed(make_result(clock, 1, reading=reading, peer_seen_at_s=clock.now()))
        assert subscriber.wait_for(AVAILABILITY).payload == b"online"
        state = subscriber.wait_for(STATE).json()
        assert state["cycle"] == 1 and state["voltage_v"] == 52.8 and len(state["cell_voltages_v"]) == 16
        assert state["alarms"] == ["cell_overvoltage"] and state["limits"]["charge_current_a"] == 50.0
        assert state["inverter_last_heard_s_ago"] == 0.0 and state["sink_ok"] is True
        voltage = subscriber.wait_for(NODE.format("sensor", "voltage")).json()
        assert (voltage["device_class"], voltage["state_class"], voltage["unit_of_measurement"]) == (
            "voltage",
            "measurement",
            "V",
        )
        assert voltage["state_topic"] == STATE and voltage["availability_topic"] == AVAILABILITY
        assert voltage["device"]["identifiers"] == ["battery_gateway_testbat"]
        assert subscriber.wait_for(NODE.format("sensor", "cell_16")).json()["unit_of_measurement"] == "V"
        temp = subscriber.wait_for(NODE.format("sensor", "temperature_2")).json()
        assert temp["device_class"] == "temperature" and temp["unit_of_measurement"] == "°C"
        alarm = subscriber.wait_for(NODE.format("binary_sensor", "alarm_cell_overvoltage")).json()
        assert alarm["device_class"] == "problem"
        assert subscriber.wait_for(NODE.format("binary_sensor", "charging_allowed")).json()["name"]
        # a client that comes later (Home Assistant after a restart) gets all of it retained
        late = Subscriber(broker.port, (STATE, AVAILABILITY, NODE.format("sensor", "soc")))
        try:
            for topic in (STATE, AVAILABILITY, NODE.format("sensor", "soc")):
                assert late.wait_for(topic).retain, topic
        finally:
            late.close()
    finally:
        observer.close()
    assert subscriber.wait_for(AVAILABILITY, lambda m: m.payload == b"offline")


def test_state_goes_out_at_the_interval_and_at_once_when_limits_change(broker, subscriber):
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port, interval_s=60.0)
    try:
        observer.gateway_cycle_completed(make_result(clock, 1))
        subscriber.wait_for(STATE, lambda m: m.json()["cycle"] == 1)
        for cycle in range(2, 6):  # same limits, inside the interval: nothing new
            clock.advance(1.0)
            observer.gateway_cycle_completed(make_result(clock, cycle, limits=replace(ALLOW, reasons=("x",))))
        clock.advance(1.0)
        observer.gateway_cycle_completed(make_result(clock, 6, limits=replace(ALLOW, charge_current_a=30.0)))
        subscriber.wait_for(STATE, lambda m: m.json()["cycle"] == 6)
        clock.advance(60.0)
        observer.gateway_cycle_completed(make_result(clock, 7, limits=replace(ALLOW, charge_current_a=30.0)))
        subscriber.wait_for(STATE, lambda m: m.json()["cycle"] == 7)
        assert [s["cycle"] for s in subscriber.states(STATE)] == [1, 6, 7]
        assert subscriber.states(STATE)[1]["limits"]["charge_current_a"] == 30.0
    finally:
        observer.close()


def test_fewer_cells_remove_the_extra_cell_entities(broker, subscriber):
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port)
    try:
        observer.gateway_cycle_completed(make_result(clock, 1))
        subscriber.wait_for(NODE.format("sensor", "cell_16"))
        observer.gateway_cycle_completed(make_result(clock, 2, reading=None))  # no reading: kept
        observer.gateway_cycle_completed(make_result(clock, 3, reading=make_reading(clock, cells=8)))
        removed = subscriber.wait_for(NODE.format("sensor", "cell_09"), lambda m: m.payload == b"")
        assert removed.payload == b""
        assert subscriber.wait_for(NODE.format("sensor", "cell_16"), lambda m: m.payload == b"")
        last = subscriber.last(NODE.format("sensor", "cell_08"))
        assert last is not None and last.payload
    finally:
        observer.close()


def test_home_assistant_birth_message_republishes_discovery(broker, subscriber):
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port)
    topic = NODE.format("sensor", "voltage")
    try:
        observer.gateway_cycle_completed(make_result(clock, 1))
        subscriber.wait_for(topic)
        subscriber.wait_for(STATE)
        before = len(subscriber.on(topic))
        subscriber.publish("homeassistant/status", "online")
        wait_until(lambda: len(subscriber.on(topic)) > before, what="discovery sent again")
    finally:
        observer.close()


def test_lost_connection_sends_the_last_will_and_reconnects(broker, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port)
    try:
        observer.gateway_cycle_completed(make_result(clock, 1))
        subscriber.wait_for(STATE)
        link = observer._client.socket()
        assert isinstance(link, socket.socket)
        link.shutdown(socket.SHUT_RDWR)  # the link dies without DISCONNECT
        subscriber.wait_for(AVAILABILITY, lambda m: m.payload == b"offline")
        wait_until(
            lambda: [m.payload for m in subscriber.on(AVAILABILITY)][-1] == b"online", what="online again"
        )
        wait_until(lambda: observer.connected, what="reconnected")
        observer.gateway_cycle_completed(make_result(clock, 2, limits=replace(ALLOW, charge_current_a=1.0)))
        subscriber.wait_for(STATE, lambda m: m.json()["cycle"] == 2)
    finally:
        observer.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "retrying in the background" in w]) == 1
    assert len([w for w in warnings if "is back" in w]) == 1


def test_broker_killed_and_restarted_mid_run(broker, caplog):
    """The loop keeps its period through the outage, and publishing resumes when the broker returns."""
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    clock = PacedClock(scale=0.02)  # a 1 s period takes 20 ms of real time
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
    observer = make_observer(clock, port=broker.port, interval_s=1.0)
    pm.register(observer, name="observer:mqtt")
    notifier = ObserverNotifier(pm, threaded=True)
    loop = GatewayLoop(engine, clock=clock, period_s=1.0, notifier=notifier)
    runner = threading.Thread(target=loop.run, daemon=True)
    before = Subscriber(broker.port, (STATE,))
    runner.start()
    try:
        before.wait_for(STATE, lambda m: m.json()["cycle"] >= 3)
        before.close()
        broker.kill()
        wait_until(lambda: not observer.connected, what="the observer to see the outage")
        down_at = loop.cycles
        wait_until(lambda: loop.cycles >= down_at + 50, what="cycles while the broker is down")
        broker.start()
        up_at = loop.cycles
        after = Subscriber(broker.port, (STATE,))
        try:
            after.wait_for(STATE, lambda m: m.json()["cycle"] > up_at)
        finally:
            after.close()
    finally:
        loop.request_stop()
        runner.join(10)
        observer.close()
    assert not runner.is_alive()
    times = sink.publish_times[: loop.cycles]
    assert [b - a for a, b in itertools.pairwise(times)] == [1.0] * (len(times) - 1)
    assert loop.skipped_slots == 0
    assert notifier.errors == 0 and notifier.dropped == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "retrying in the background" in w]) == 1  # once per outage
    assert len([w for w in warnings if "is back" in w]) == 1


def test_gateway_run_with_observers_mqtt(broker, subscriber):
    """Enabled the way users do: ``[gateway] observers = ["mqtt"]`` and an ``[mqtt]`` section."""
    pm = manager_with(ScriptedPlugins())
    pm.register(mqtt_observer, name="mqtt")
    args = [
        "run",
        "--source",
        "fake",
        "--policy",
        "fixed",
        "--sink",
        "memory",
        "--cycles",
        "20",
        "--set",
        "gateway.period=0.05",
        "--set",
        "gateway.stale_after=1",
        "--set",
        'gateway.observers=["mqtt"]',
        "--set",
        'mqtt.host="127.0.0.1"',
        "--set",
        f"mqtt.port={broker.port}",
        "--set",
        'mqtt.device_id="testbat"',
    ]
    result = CliRunner().invoke(build_app(pm), args)
    assert result.exit_code == 0, result.output
    state = subscriber.wait_for(STATE).json()
    assert state["source"] == "fake" and state["sink"] == "memory"
    assert subscriber.wait_for(NODE.format("sensor", "voltage")).json()["device"]["model"] == "fake → memory"
    final = subscriber.wait_for(STATE, lambda m: m.json()["limits"]["fault"] == "shutdown").json()
    assert final["failsafe"] is True and final["limits"]["charge_allowed"] is False
    assert subscriber.wait_for(AVAILABILITY, lambda m: m.payload == b"offline")


def test_gateway_run_with_a_bank_of_two_announces_a_device_per_pack(broker, subscriber):
    """The core's own bank result, not a hand-built one: two instances of one source plugin."""
    pm = manager_with(ScriptedPlugins())
    pm.register(mqtt_observer, name="mqtt")
    sets = {
        "gateway.sources": '["pack1", "pack2"]',
        "pack1.plugin": '"fake"',
        "pack2.plugin": '"fake"',
        "gateway.policy": '"fixed"',
        "gateway.sink": '"memory"',
        "gateway.period": "0.05",
        "gateway.stale_after": "1",
        "gateway.observers": '["mqtt"]',
        "mqtt.host": '"127.0.0.1"',
        "mqtt.port": str(broker.port),
        "mqtt.device_id": '"testbat"',
        "mqtt.interval_s": "1",
    }
    args = ["run", "--cycles", "20"] + [
        arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")
    ]
    result = CliRunner().invoke(build_app(pm), args)
    assert result.exit_code == 0, result.output
    for pack in ("pack1", "pack2"):
        topic = f"homeassistant/binary_sensor/battery_gateway_testbat_{pack}/online/config"
        config = subscriber.wait_for(topic).json()
        assert config["device"]["via_device"] == "battery_gateway_testbat"
    state = subscriber.wait_for(STATE, lambda m: bool(m.json()["packs"])).json()
    assert set(state["packs"]) == {"pack1", "pack2"} and state["packs"]["pack1"]["online"] is True
    assert state["packs"]["pack2"]["voltage_v"] == 52.8
