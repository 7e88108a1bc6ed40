"""The paho client and its link to the broker: connect in the background, log each outage once, with why.

Connecting, reconnecting with backoff and TLS handshakes all happen on paho's network thread; nothing
here waits on the network. Every callback paho calls is wrapped: an exception in one is logged once
(one line, no traceback) and counted, and paho's thread goes on, so commands keep being heard.

A broker that accepts the TCP connection and never answers CONNECT is noticed after
``connect_timeout_s`` by :meth:`BrokerLink.check` (called every cycle): the link is closed, which
makes paho retry with its backoff.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway_core.clock import Clock

from .commands import MAX_PAYLOAD_BYTES
from .config import MqttConfig
from .diagnose import Target, closed_before_connack, connect_failure, no_connack, refusal

#: Longest ``close()`` waits for paho's thread (it may sit in a connect timeout).
CLOSE_WAIT_S = 2.0

#: Room for the fixed header, packet id and properties of a PUBLISH besides topic and payload.
PACKET_OVERHEAD_BYTES = 512


def max_packet_bytes(topics: Sequence[str]) -> int:
    """The MQTT 5 Maximum Packet Size announced in CONNECT: the payload cap plus the longest topic."""
    return MAX_PAYLOAD_BYTES + max((len(t.encode()) for t in topics), default=0) + PACKET_OVERHEAD_BYTES


class BrokerLink:
    """One paho client: the connection state, the outage log and the CONNACK watchdog."""

    def __init__(
        self,
        config: MqttConfig,
        clock: Clock,
        log: logging.Logger,
        *,
        will_topic: str,
        inbound_topics: Sequence[str],
        on_connected: Callable[[], None],
        on_message: Callable[[mqtt.MQTTMessage], None],
    ) -> None:
        self._config = config
        self._clock = clock
        self._log = log
        self._target = Target(config.host, config.port, config.tls, config.connect_timeout_s, config.protocol)
        self._on_connected = on_connected
        self._on_message = on_message
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._connected = False
        self._ever_connected = False
        self._outage_logged = False
        self._opened: tuple[socket.socket, float] | None = None  # TCP/TLS up, CONNACK not yet seen
        self._failed_callbacks: set[str] = set()
        self.callback_errors = 0
        self.max_packet_bytes = max_packet_bytes(inbound_topics)
        self.client = self._make_client(will_topic)

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._connected

    def start(self) -> None:
        """Start connecting on paho's thread (once; never after close)."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
        cfg = self._config
        if cfg.protocol == "v5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.MaximumPacketSize = self.max_packet_bytes
            self.client.connect_async(
                cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=True, properties=props
            )
        else:
            self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self.client.loop_start()

    def check(self, now: float) -> None:
        """Close a link whose CONNACK is overdue (the broker accepted TCP and never answered)."""
        with self._lock:
            opened = self._opened
            if opened is None or self._connected or now - opened[1] < self._target.timeout_s:
                return
            self._opened = None
        self._note_down(no_connack(self._target))
        with contextlib.suppress(OSError):
            # socket.socket's own shutdown, also for an SSLSocket: the fd is shut down under paho,
            # which reads EOF and reconnects with its backoff; the TLS object stays intact.
            socket.socket.shutdown(opened[0], socket.SHUT_RDWR)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = True) -> bool:
        """Queue one message on paho's thread; False when paho refused it."""
        try:
            info = self.client.publish(topic, payload, qos=qos, retain=retain)
        except Exception as exc:  # e.g. a payload paho refuses; never let it reach the notifier
            self._log.debug("mqtt: publish to %s failed: %s", topic, exc)
            return False
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self, offline_topic: str) -> None:
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
                info = self.client.publish(offline_topic, "offline", qos=1, retain=True)
                info.wait_for_publish(timeout=1.0)
            self.client.disconnect()
        except Exception as exc:  # close() never raises
            self._log.debug("mqtt: while closing: %s", exc)
        stopper = threading.Thread(target=self.client.loop_stop, name="mqtt-close", daemon=True)
        stopper.start()
        stopper.join(CLOSE_WAIT_S)

    # -- paho ----------------------------------------------------------------------------------

    def _make_client(self, will_topic: str) -> mqtt.Client:
        cfg = self._config
        client_id = f"battery-gateway-{cfg.device_id}"
        if cfg.protocol == "v5":
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        else:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True
            )
        client.suppress_exceptions = True  # a second net under the wrappers below
        client.will_set(will_topic, "offline", qos=1, retain=True)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.tls_ca_file)
            client.tls_insecure_set(cfg.tls_insecure)
        client.connect_timeout = cfg.connect_timeout_s
        client.reconnect_delay_set(min_delay=1, max_delay=cfg.reconnect_max_s)
        client.max_queued_messages_set(1000)
        client.on_socket_open = self._contained("socket_open", self._handle_socket_open)
        client.on_connect = self._contained("connect", self._handle_connect)
        client.on_connect_fail = self._contained("connect_fail", self._handle_connect_fail)
        client.on_disconnect = self._contained("disconnect", self._handle_disconnect)
        client.on_message = self._contained("message", self._handle_message)
        return client

    def _contained(self, name: str, handler: Callable[..., None]) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            try:
                handler(*args)
            except Exception as exc:
                self._callback_failed(name, exc)

        return callback

    def _callback_failed(self, name: str, exc: Exception) -> None:
        with self._lock:
            self.callback_errors += 1
            first = name not in self._failed_callbacks
            self._failed_callbacks.add(name)
        if first:
            self._log.warning(
                "mqtt: the %s handler failed: %s: %s (contained; logged once, counted from now on)",
                name,
                type(exc).__name__,
                str(exc)[:200],
            )

    def _handle_socket_open(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):
            with self._lock:
                self._opened = (sock, self._clock.now())

    def _handle_connect(self, _client: mqtt.Client, _data: Any, _flags: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self._opened = None
        if reason.is_failure:
            self._note_down(refusal(reason, self._target))
            return
        with self._lock:
            self._connected = True
            was_down, first = self._outage_logged, not self._ever_connected
            self._outage_logged = False
            self._ever_connected = True
        cfg = self._config
        if was_down:
            self._log.warning("MQTT broker %s is back; publishing again", self._target.address)
        elif first:
            self._log.info("connected to MQTT broker %s; publishing to %s", self._target.address, cfg.topic)
        self._on_connected()

    def _handle_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        # paho calls this from inside its ``except OSError`` block: the exception is the reason.
        self._note_down(connect_failure(sys.exc_info()[1], self._target))

    def _handle_disconnect(self, _client: mqtt.Client, _userdata: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            was_connected, self._connected = self._connected, False
            self._opened = None
            closing = self._closed
        if not closing:
            self._note_down(f"connection lost ({reason})" if was_connected else closed_before_connack(reason))

    def _handle_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._on_message(message)

    def _note_down(self, why: str) -> None:
        with self._lock:
            if self._outage_logged or self._closed:
                return
            self._outage_logged = True
        self._log.warning(
            "MQTT broker %s: %s; retrying in the background (the gateway keeps running)",
            self._target.address,
            why,
        )

    def subscribe(self, topic: str, qos: int) -> None:
        """Subscribe on the current connection (call from ``on_connected``)."""
        self.client.subscribe(topic, qos=qos)
