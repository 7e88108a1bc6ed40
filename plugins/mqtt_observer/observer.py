"""The MQTT observer: publishes each cycle's state through paho's network thread, never waiting on it.

``gateway_cycle_completed`` only stores the result and, when connected, hands messages to
``client.publish`` (which queues them; paho's own thread does the I/O). While the broker is down
nothing is queued: the latest state is published on reconnect. The link itself (connecting, outages,
reasons) is :class:`~mqtt_observer.connection.BrokerLink`.

What arrives from the broker is bounded: payloads over :data:`~mqtt_observer.commands.MAX_PAYLOAD_BYTES`
are ignored, log lines about commands are rate-limited (one line, then one summary per minute), and
Home Assistant's ``online`` republishes the discovery configs at most once a minute.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from importlib import metadata

import paho.mqtt.client as mqtt

from gateway_core import hookimpl
from gateway_core.model import CycleResult, GatewayState, Limits
from gateway_core.roles import PluginContext

from .commands import MAX_PAYLOAD_BYTES, CommandError, OverrideBox, apply_override, parse_override_command
from .config import MqttConfig
from .connection import BrokerLink
from .discovery import DiscoveryContext, discovery_messages
from .ratelimit import LogLimiter, Throttle
from .state import Shape, build_state, encode, publish_key


def _version() -> str:
    try:
        return metadata.version("battery-gateway")
    except metadata.PackageNotFoundError:
        return ""


class MqttObserver:
    """Publishes the battery, the limits and Home Assistant discovery to an MQTT broker."""

    def __init__(self, config: MqttConfig, ctx: PluginContext) -> None:
        if config.tls_ca_file is not None and not os.path.isfile(config.tls_ca_file):
            raise ValueError(f"tls_ca_file {config.tls_ca_file!r} does not exist")
        self._config = config
        self._clock = ctx.clock
        self._log: logging.Logger = ctx.logger
        self._lock = threading.Lock()
        self._discovery = DiscoveryContext(
            prefix=config.discovery_prefix,
            node_id=f"battery_gateway_{config.device_id}",
            base_topic=config.topic,
            device_name=config.name,
            sw_version=_version(),
            expire_after_s=int(3 * config.interval_s + 60),
            commands=config.accept_commands,
        )
        self.availability_topic = self._discovery.availability_topic
        self.state_topic = self._discovery.state_topic
        self.command_topic = self._discovery.command_topic
        self.status_topic = f"{config.discovery_prefix}/status"
        self.overrides = OverrideBox()
        self.states_published = 0
        self.discovery_published = 0
        self.messages_received = 0
        self.commands_accepted = 0
        self.commands_refused = 0
        self.oversize_ignored = 0
        self._limiter = LogLimiter(self._log)
        self._rediscover = Throttle()
        inbound = [self.status_topic] if config.discovery else []
        if config.accept_commands:
            inbound.append(self.command_topic)
        self._link = BrokerLink(
            config,
            ctx.clock,
            self._log,
            will_topic=self.availability_topic,
            inbound_topics=inbound,
            on_connected=self._on_connected,
            on_message=self._on_message,
        )
        self._closed = False
        self._latest: CycleResult | None = None
        self._shape: Shape | None = None
        self._discovery_topics: set[str] = set()
        self._last_state_at: float | None = None
        self._last_key: tuple[object, ...] | None = None
        self._force = False
        self._override_active = False

    # -- the hooks ----------------------------------------------------------------------------

    @hookimpl
    def gateway_cycle_completed(self, result: CycleResult) -> None:
        """Store ``result``; publish the state if due (interval; limits, packs or obedience changed),
        without waiting."""
        if self._closed:
            return
        self._link.start()
        clock_now = self._clock.now()
        self._link.check(clock_now)
        self._limiter.flush(clock_now)
        now = result.started_at_s + result.duration_s
        self._note_override_expiry(now)
        rediscover = self._config.discovery and self._rediscover.due(clock_now)
        key = publish_key(result)
        with self._lock:
            self._latest = result
            shape = Shape.of(result, self._shape)
            shape_changed = shape != self._shape
            self._shape = shape
            due = (
                self._force
                or rediscover
                or self._last_state_at is None
                or now - self._last_state_at >= self._config.interval_s
                or key != self._last_key
            )
            self._last_key = key
            if due:
                self._last_state_at = now
                self._force = False
        if not self._link.connected:
            return  # on_connect publishes the latest state
        if shape_changed or rediscover:
            self._publish_discovery()
        if due:
            self._publish_state(result)

    @hookimpl
    def gateway_adjust_limits(self, limits: Limits, state: GatewayState) -> Limits | None:
        """Lower the charge limit to the MQTT override while one is active; ``None`` otherwise.

        Runs in the lane every cycle with a fresh reading; only reads the thread-safe override box.
        """
        if not self._config.accept_commands:
            return None
        adjusted = apply_override(limits, self.overrides.get(state.now_s), state.now_s)
        return None if adjusted is limits else adjusted

    def close(self) -> None:
        """Publish ``offline``, disconnect and stop paho's thread (waits at most ~3 s); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._limiter.flush(self._clock.now(), final=True)
        self._link.close(self.availability_topic)

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._link.connected

    @property
    def callback_errors(self) -> int:
        """How many paho callbacks raised (each contained and counted)."""
        return self._link.callback_errors

    @property
    def _client(self) -> mqtt.Client:
        return self._link.client

    # -- from the broker (paho's thread) -------------------------------------------------------

    def _on_connected(self) -> None:
        cfg = self._config
        with self._lock:
            latest = self._latest
        self._link.publish(self.availability_topic, b"online", qos=1)
        if cfg.discovery:
            self._link.subscribe(self.status_topic, qos=0)
        if cfg.accept_commands:
            self._link.subscribe(self.command_topic, qos=1)
        self._publish_discovery()
        if latest is not None:
            self._publish_state(latest)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        now = self._clock.now()
        size = len(message.payload)
        with self._lock:
            self.messages_received += 1
        if size > MAX_PAYLOAD_BYTES:  # before any copy of it
            self._limiter.event(
                "oversize messages ignored",
                now,
                f"ignoring a {size}-byte message on {message.topic[:80]}: at most {MAX_PAYLOAD_BYTES} bytes",
            )
            with self._lock:  # counted after the log line, so a count seen implies its line
                self.oversize_ignored += 1
            return
        if message.topic == self.status_topic:
            # Home Assistant restarted: send the configs again. A retained "online" arrives with the
            # subscription, just after on_connect sent them; a flood is throttled to once a minute.
            if message.payload == b"online" and not message.retain and self._rediscover.request(now):
                with self._lock:
                    self._force = True
                self._publish_discovery()
        elif message.topic == self.command_topic and self._config.accept_commands:
            self._on_command(message, now)

    def _on_command(self, message: mqtt.MQTTMessage, now: float) -> None:
        if message.retain:
            text = f"ignoring a retained charge limit command on {message.topic}"
            self._limiter.event("retained commands ignored", now, text)
            return
        cfg = self._config
        try:
            override = parse_override_command(
                bytes(message.payload),
                now_s=now,
                default_duration_s=cfg.override_default_duration_s,
                max_duration_s=cfg.override_max_duration_s,
            )
        except CommandError as exc:
            self._limiter.event("charge limit commands refused", now, f"charge limit override refused: {exc}")
            with self._lock:
                self.commands_refused += 1
            return
        self.overrides.set(override)
        with self._lock:
            self._force = True
            self._override_active = override is not None
        if override is None:
            text = "charge limit override cleared"
        else:
            text = (
                f"charge limit override: at most {override.charge_current_a:g} A "
                f"for {override.expires_at_s - now:.0f} s"
            )
        self._limiter.event("charge limit commands accepted", now, text)
        with self._lock:
            self.commands_accepted += 1

    def _note_override_expiry(self, now: float) -> None:
        if not self._override_active or self.overrides.get(now) is not None:
            return
        with self._lock:
            self._override_active = False
            self._force = True
        self._limiter.event("charge limit overrides expired", now, "charge limit override expired")

    # -- publishing ------------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, qos: int | None = None) -> bool:
        return self._link.publish(topic, payload, self._config.qos if qos is None else qos)

    def _publish_state(self, result: CycleResult) -> None:
        now = result.started_at_s + result.duration_s
        state = build_state(result, override=self.overrides.get(now), now_s=now)
        if self._publish(self.state_topic, encode(state)):
            with self._lock:
                self.states_published += 1

    def _publish_discovery(self) -> None:
        if not self._config.discovery:
            return
        with self._lock:
            shape = self._shape
            old = self._discovery_topics
        if shape is None:
            return
        messages = discovery_messages(self._discovery, shape)
        for topic, payload in messages.items():
            self._publish(topic, json.dumps(payload, separators=(",", ":")).encode())
        for topic in old - set(messages):  # entities that no longer exist (fewer cells)
            self._publish(topic, b"")
        with self._lock:
            self._discovery_topics = set(messages)
            self.discovery_published += 1
