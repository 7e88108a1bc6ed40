"""Hostile neighbours on the broker (issue 23, items 8, 11, 13, 17, 21), against a real mosquitto.

Anyone who may publish on the broker can send absurd numbers, huge payloads, floods of commands and
floods of Home Assistant birth messages. None of it may kill paho's thread, grow memory, flood the
log or make the observer republish its discovery configs over and over.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable
from functools import partial

import pytest

from mqtt_observer.commands import MAX_PAYLOAD_BYTES, parse_override_command
from tests.plugins.mqtt_observer.conftest import WAIT_S, Subscriber, wait_until
from tests.plugins.mqtt_observer.test_override import COMMAND, STATE, Rig

VOLTAGE_CONFIG = "homeassistant/sensor/battery_gateway_testbat/voltage/config"


@pytest.fixture
def subscriber(broker):
    """Watches the state and one discovery config only: never the commands, so a huge one is not in
    this process's memory through it."""
    sub = Subscriber(broker.port, (STATE, VOLTAGE_CONFIG))
    try:
        yield sub
    finally:
        sub.close()


@pytest.fixture
def rig(broker, subscriber):
    rig = Rig(broker.port, accept_commands=True)
    rig.cycle()
    subscriber.wait_for(STATE)
    yield rig
    rig.observer.close()


def reached(count: Callable[[], int], expected: int) -> bool:
    return count() >= expected


def publish_many(
    subscriber: Subscriber, topic: str, payloads: list[str], handled: Callable[[], int] | None = None
) -> None:
    """Publish the payloads at QoS 1 in batches of 200, each once the observer has handled the last.

    mosquitto queues at most 1000 messages per client and drops the rest (its own bound): batches
    keep the queue short, so every message arrives however slow this machine is.
    """
    for start in range(0, len(payloads), 200):
        batch = payloads[start : start + 200]
        infos = [subscriber.client.publish(topic, payload, qos=1) for payload in batch]
        infos[-1].wait_for_publish(WAIT_S)
        if handled is not None:
            wait_until(partial(reached, handled, start + len(batch)), what=f"{start + len(batch)} handled")


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def publish_from_another_process(port: int, topic: str, size: int) -> None:
    """Publish ``size`` bytes from a separate process, so this process's memory holds none of it."""
    code = textwrap.dedent(
        f"""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", {port})
        client.loop_start()
        client.publish({topic!r}, b"7" * {size}, qos=1).wait_for_publish(20)
        client.disconnect()
        client.loop_stop()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- item 8: huge integers; every callback contained ------------------------------------------------


def test_a_400_digit_command_is_refused_with_one_warning_and_commands_keep_working(rig, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    huge = "1" + "0" * 400
    subscriber.publish(COMMAND, huge)
    subscriber.publish(COMMAND, f'{{"charge_current_a": 5, "duration_s": {huge}}}')
    wait_until(lambda: rig.observer.commands_refused == 2, what="both refusals")
    subscriber.publish(COMMAND, "0")  # paho's thread is alive: the next command is heard
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the 0 A override")
    assert rig.cycle() == 0.0
    lines = [w for w in warnings(caplog) if "refused" in w]
    assert lines == [
        "charge limit override refused: charge_current_a = 1"
        + "0" * 36
        + "... (401 characters) is out of range"
    ]
    assert rig.observer.callback_errors == 0


def test_an_exception_in_a_paho_callback_is_contained_and_logged_once(rig, subscriber, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    real = parse_override_command
    calls: list[bytes] = []

    def breaks_twice(payload: bytes, **kwargs: float):
        calls.append(payload)
        if len(calls) <= 2:
            raise OverflowError("int too large to convert to float")
        return real(payload, **kwargs)

    monkeypatch.setattr("mqtt_observer.observer.parse_override_command", breaks_twice)
    subscriber.publish(COMMAND, "1")
    subscriber.publish(COMMAND, "2")
    wait_until(lambda: rig.observer.callback_errors == 2, what="two contained failures")
    subscriber.publish(COMMAND, "3")
    wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the next command")
    assert rig.cycle() == 3.0
    failed = [w for w in warnings(caplog) if "handler failed" in w]
    assert failed == [
        "mqtt: the message handler failed: OverflowError: int too large to convert to float "
        "(contained; logged once, counted from now on)"
    ]


# -- item 11: the payload cap ----------------------------------------------------------------------


def test_an_oversize_payload_never_reaches_the_gateway_with_mqtt5(rig, subscriber, broker):
    size = 8 * 1024 * 1024
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        publish_from_another_process(broker.port, COMMAND, size)
        subscriber.publish(COMMAND, "9")  # sent after it, so handled after it had it arrived
        wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the small command")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # MQTT 5: CONNECT announced the Maximum Packet Size, so the broker dropped it for this client.
    assert peak - before < size // 8, (
        f"{(peak - before) / 1e6:.1f} MB allocated for an {size >> 20} MB payload"
    )
    assert rig.observer.oversize_ignored == 0 and rig.observer.commands_refused == 0
    assert rig.cycle() == 9.0


def test_an_oversize_payload_is_refused_on_arrival_with_mqtt311(broker, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    rig = Rig(broker.port, accept_commands=True, protocol="v3.1.1")
    try:
        rig.cycle()
        subscriber.wait_for(STATE)
        subscriber.publish(COMMAND, "5" + " " * MAX_PAYLOAD_BYTES)  # a valid number, padded past the cap
        wait_until(lambda: rig.observer.oversize_ignored == 1, what="the oversize command")
        assert rig.observer.overrides.get(rig.clock.now()) is None and rig.observer.commands_refused == 0
        assert [w for w in warnings(caplog) if "byte message" in w] == [
            f"ignoring a {MAX_PAYLOAD_BYTES + 1}-byte message on {COMMAND}: at most {MAX_PAYLOAD_BYTES} bytes"
        ]
        subscriber.publish(COMMAND, "5")
        wait_until(lambda: rig.observer.overrides.get(rig.clock.now()) is not None, what="the command")
        assert rig.cycle() == 5.0
    finally:
        rig.observer.close()


# -- item 13: the log is rate-limited --------------------------------------------------------------


def test_a_flood_of_refused_commands_gives_one_line_then_one_summary_per_minute(rig, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    publish_many(subscriber, COMMAND, ["-1"] * 2000, lambda: rig.observer.commands_refused)
    wait_until(lambda: rig.observer.commands_refused == 2000, what="2000 refusals")
    assert len([w for w in warnings(caplog) if "refused" in w]) == 1
    rig.cycle(advance=30.0)
    assert len([w for w in warnings(caplog) if "refused" in w]) == 1  # still inside the minute
    rig.cycle(advance=30.0)
    lines = [w for w in warnings(caplog) if "refused" in w]
    assert len(lines) == 2
    assert lines[1].startswith("1999 more charge limit commands refused in the last 60 s")
    assert lines[1].endswith(
        "the latest: charge limit override refused: charge_current_a = -1 is out of range; "
        "accepted: 0 to 10000 A"
    )
    rig.cycle(advance=60.0)  # quiet for a minute: nothing more, and the next one is logged at once
    assert len([w for w in warnings(caplog) if "refused" in w]) == 2
    subscriber.publish(COMMAND, "twenty")
    wait_until(lambda: len([w for w in warnings(caplog) if "refused" in w]) == 3, what="the next refusal")


def test_a_flood_of_accepted_commands_is_summed_up_and_the_last_one_holds(rig, subscriber, caplog):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    publish_many(subscriber, COMMAND, ["20"] * 499 + ["7"], lambda: rig.observer.commands_accepted)
    wait_until(lambda: rig.observer.commands_accepted == 500, what="500 commands")
    assert len([w for w in warnings(caplog) if "charge limit override" in w]) == 1
    assert rig.cycle(advance=60.0) == 7.0
    lines = [w for w in warnings(caplog) if "charge limit override" in w or "accepted" in w]
    assert len(lines) == 2
    assert lines[1].startswith("499 more charge limit commands accepted in the last 60 s")
    assert lines[1].endswith("the latest: charge limit override: at most 7 A for 900 s")


# -- item 17: Home Assistant's birth message -------------------------------------------------------


def test_a_flood_of_online_birth_messages_republishes_the_discovery_at_most_once_a_minute(rig, subscriber):
    wait_until(lambda: subscriber.on(VOLTAGE_CONFIG), what="the first discovery")
    publish_many(subscriber, "homeassistant/status", ["online"] * 52)
    subscriber.publish(COMMAND, "clear")  # handled after the 52 births
    wait_until(lambda: rig.observer.commands_accepted == 1, what="the births to be handled")
    wait_until(lambda: len(subscriber.on(VOLTAGE_CONFIG)) == 2, what="one republish")
    assert rig.observer.discovery_published == 2  # on connect, then once for 52 births
    rig.cycle(advance=30.0)
    assert rig.observer.discovery_published == 2
    rig.cycle(advance=30.0)  # the deferred births are not lost: one more, a minute later
    wait_until(lambda: len(subscriber.on(VOLTAGE_CONFIG)) == 3, what="the deferred republish")
    rig.cycle(advance=60.0)
    assert rig.observer.discovery_published == 3


def test_a_retained_online_does_not_republish_what_the_connect_just_sent(broker, subscriber):
    subscriber.publish("homeassistant/status", "online", retain=True)
    rig = Rig(broker.port)
    try:
        rig.cycle()  # connects, sends the configs, subscribes: the broker replays "online", retained
        wait_until(lambda: rig.observer.messages_received == 1, what="the replay to be handled")
        assert rig.observer.discovery_published == 1
    finally:
        rig.observer.close()
        subscriber.publish("homeassistant/status", b"", retain=True)
