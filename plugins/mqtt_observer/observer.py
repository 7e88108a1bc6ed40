"""The MQTT observer: publishes each cycle's state through paho's network thread, never waiting on it.

``gateway_cycle_completed`` only stores the result and, when connected, hands messages to
``client.publish`` (which queues them; paho's own thread does the I/O). While the broker is down
nothing is queued: the latest state is published on reconnect. Connecting, reconnecting with
backoff and TLS handshakes all happen on paho's thread. An outage is logged once, and its end once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from importlib import metadata
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway_core import hookimpl
from gateway_core.model import CycleResult, GatewayState, Limits
from gateway_core.roles import PluginContext

from .commands import CommandError, OverrideBox, apply_override, parse_override_command
from .config import MqttConfig
from .discovery import DiscoveryContext, discovery_messages
from .state import Shape, build_state, encode, limits_key

#: Longest ``close()`` waits for paho's thread (it may sit in a connect timeout).
CLOSE_WAIT_S = 2.0


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
        self._client = self._make_client()
        self._started = False
        self._closed = False
        self._connected = False
        self._ever_connected = False
        self._outage_logged = False
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
        """Store ``result``; publish the state if due (interval or limits changed), without waiting."""
        if self._closed:
            return
        self._ensure_started()
        now = result.started_at_s + result.duration_s
        self._note_override_expiry(now)
        key = limits_key(result.limits)
        with self._lock:
            self._latest = result
            shape = Shape.of(result, self._shape)
            shape_changed = shape != self._shape
            self._shape = shape
            due = (
                self._force
                or self._last_state_at is None
                or now - self._last_state_at >= self._config.interval_s
                or key != self._last_key
            )
            self._last_key = key
            if due:
                self._last_state_at = now
                self._force = False
            connected = self._connected
        if not connected:
            return  # on_connect publishes the latest state
        if shape_changed:
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
            started, connected = self._started, self._connected
        if not started:
            return
        try:
            if connected:
                info = self._client.publish(self.availability_topic, "offline", qos=1, retain=True)
                info.wait_for_publish(timeout=1.0)
            self._client.disconnect()
        except Exception as exc:  # close() never raises
            self._log.debug("mqtt: while closing: %s", exc)
        stopper = threading.Thread(target=self._client.loop_stop, name="mqtt-close", daemon=True)
        stopper.start()
        stopper.join(CLOSE_WAIT_S)

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._connected

    # -- paho ----------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        cfg = self._config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"battery-gateway-{cfg.device_id}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.tls_ca_file)
            client.tls_insecure_set(cfg.tls_insecure)
        client.connect_timeout = cfg.connect_timeout_s
        client.reconnect_delay_set(min_delay=1, max_delay=cfg.reconnect_max_s)
        client.max_queued_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _ensure_started(self) -> None:
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
        cfg = self._config
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self._client.loop_start()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._note_down(f"the broker refused the connection: {reason}")
            return
        with self._lock:
            self._connected = True
            was_down, first = self._outage_logged, not self._ever_connected
            self._outage_logged = False
            self._ever_connected = True
            latest = self._latest
        cfg = self._config
        if was_down:
            self._log.warning("MQTT broker %s:%d is back; publishing again", cfg.host, cfg.port)
        elif first:
            self._log.info("connected to MQTT broker %s:%d; publishing to %s", cfg.host, cfg.port, cfg.topic)
        self._publish(self.availability_topic, b"online", qos=1)
        if cfg.discovery:
            client.subscribe(self.status_topic, qos=0)
        if cfg.accept_commands:
            client.subscribe(self.command_topic, qos=1)
        self._publish_discovery()
        if latest is not None:
            self._publish_state(latest)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._note_down("cannot connect")

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        with self._lock:
            self._connected = False
            closing = self._closed
        if not closing:
            self._note_down(f"connection lost ({reason})")

    def _note_down(self, why: str) -> None:
        with self._lock:
            if self._outage_logged or self._closed:
                return
            self._outage_logged = True
        cfg = self._config
        self._log.warning(
            "MQTT broker %s:%d: %s; retrying in the background (the gateway keeps running)",
            cfg.host,
            cfg.port,
            why,
        )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.status_topic:
            if message.payload == b"online":  # Home Assistant restarted: send the configs again
                with self._lock:
                    self._force = True
                self._publish_discovery()
        elif message.topic == self.command_topic and self._config.accept_commands:
            self._on_command(message)

    def _on_command(self, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            self._log.warning("ignoring a retained charge limit command on %s", message.topic)
            return
        cfg = self._config
        try:
            override = parse_override_command(
                bytes(message.payload),
                now_s=self._clock.now(),
                default_duration_s=cfg.override_default_duration_s,
                max_duration_s=cfg.override_max_duration_s,
            )
        except CommandError as exc:
            self._log.warning("charge limit override refused: %s", exc)
            return
        self.overrides.set(override)
        with self._lock:
            self._force = True
            self._override_active = override is not None
        if override is None:
            self._log.warning("charge limit override cleared")
        else:
            self._log.warning(
                "charge limit override: at most %g A for %.0f s",
                override.charge_current_a,
                override.expires_at_s - self._clock.now(),
            )

    def _note_override_expiry(self, now: float) -> None:
        if not self._override_active or self.overrides.get(now) is not None:
            return
        with self._lock:
            self._override_active = False
            self._force = True
        self._log.warning("charge limit override expired")

    # -- publishing ------------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, qos: int | None = None) -> bool:
        try:
            info = self._client.publish(
                topic, payload, qos=self._config.qos if qos is None else qos, retain=True
            )
        except Exception as exc:  # e.g. a payload paho refuses; never let it reach the notifier
            self._log.debug("mqtt: publish to %s failed: %s", topic, exc)
            return False
        return info.rc == mqtt.MQTT_ERR_SUCCESS

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
