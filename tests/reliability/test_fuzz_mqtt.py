"""Fuzz what a broker may hand the MQTT observer: commands and birth messages of any bytes.

Huge integers (a 400-digit current, a 5000-digit duration), non-UTF-8 bytes, deep JSON, floods: the
command parser gives an override or one ``CommandError`` line, and paho's ``on_message`` callback, as
the observer installs it, never raises inside (``callback_errors`` stays 0) and never logs more than
one line per kind. No broker is needed: messages are built as paho builds them and handed to the
callback paho would call. ``GATEWAY_LONG_FUZZ=1`` switches to the long hypothesis profile.
"""

from __future__ import annotations

import json
import logging
import os

import paho.mqtt.client as mqtt
from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt_observer.commands import MAX_OVERRIDE_A, MAX_PAYLOAD_BYTES, CommandError, parse_override_command
from tests.fakes import FakeClock
from tests.plugins.mqtt_observer.helpers import make_observer

NOW = 1000.0
COMMAND = "battery-gateway/testbat/command/charge_limit"
STATUS = "homeassistant/status"

huge_ints = st.integers(min_value=10**15, max_value=10**400) | st.integers(
    max_value=-(10**15), min_value=-(10**400)
)
numbers = huge_ints | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=12,
)
commands = st.one_of(
    st.binary(max_size=2 * MAX_PAYLOAD_BYTES),
    numbers.map(lambda n: str(n).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"charge_current_a": numbers, "duration_s": numbers}).map(
        lambda d: json.dumps(d).encode()
    ),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(min_value=1, max_value=6000).map(lambda digits: b"1" + b"0" * digits),
    st.integers(min_value=1, max_value=2000).map(lambda depth: b"[" * depth + b"]" * depth),
)


@given(commands)
def test_a_command_of_any_bytes_is_an_override_or_one_refusal_line(payload):
    try:
        override = parse_override_command(payload, now_s=NOW, default_duration_s=900.0, max_duration_s=3600.0)
    except CommandError as exc:
        text = str(exc)
        assert text and "\n" not in text and len(text) < 300
        return
    if override is not None:
        assert 0 <= override.charge_current_a <= MAX_OVERRIDE_A
        assert NOW + 1 <= override.expires_at_s <= NOW + 3600


def message(topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessage:
    """A message as paho hands it to ``on_message``."""
    msg = mqtt.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    msg.retain = retain
    return msg


@settings(max_examples=1000 if os.environ.get("GATEWAY_LONG_FUZZ") else 100)  # ~25 ms per example
@given(st.lists(st.tuples(st.sampled_from([COMMAND, STATUS]), commands, st.booleans()), max_size=30))
def test_the_message_callback_contains_everything_and_the_log_stays_short(messages):
    clock = FakeClock(NOW)
    observer = make_observer(clock, accept_commands=True)
    logger = logging.getLogger("gateway.mqtt")
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    on_message = observer._client.on_message
    assert on_message is not None
    try:
        for topic, payload, retain in messages:
            on_message(observer._client, None, message(topic, payload, retain))
        override = observer.overrides.get(clock.now())
    finally:
        logger.removeHandler(handler)
        observer.close()
    assert observer.callback_errors == 0
    assert observer.messages_received == len(messages)
    # one line per kind at most within the minute (refused, accepted, oversize, retained)
    assert len(lines) <= 4, lines
    assert all("\n" not in line for line in lines)
    if override is not None:
        assert 0 <= override.charge_current_a <= MAX_OVERRIDE_A
