"""The ``mqtt_meter`` grid meter: a paho subscription whose network thread keeps the newest value.

:meth:`MqttMeter.open` only starts paho's thread (connecting, reconnecting with backoff and TLS all
happen there), so it never blocks the start-up or the loop. Each message on ``topic`` is parsed
(:mod:`mqtt_meter.payload`) and, when it holds a power, becomes the latest :class:`MeterReading`
stamped with the injected clock. :meth:`latest` returns it while it is younger than
``stale_after_s``, else ``None`` (no meter). A refused payload leaves the last value to age out and is
logged once per reason, then at most every :data:`LOG_EVERY_S` with a count. Every paho callback is
contained: an exception there is logged, never raised into paho's thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway_core.model import MeterReading
from gateway_core.roles import PluginContext

from .config import MqttMeterConfig, path_segments
from .payload import PayloadError, grid_power

#: A repeated refusal is logged again at most this often (with the count since).
LOG_EVERY_S = 300.0
#: Longest ``close()`` waits for paho's thread.
CLOSE_WAIT_S = 2.0


def contained(log: logging.Logger, what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap a paho callback so that no exception reaches paho's network thread."""

    def wrap(func: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            try:
                func(*args)
            except Exception as exc:
                log.error("mqtt_meter: %s failed: %r (contained; the subscription goes on)", what, exc)

        return guarded

    return wrap


class MqttMeter:
    """A :class:`~gateway_core.roles.GridMeter` fed by one MQTT topic."""

    def __init__(self, config: MqttMeterConfig, ctx: PluginContext) -> None:
        if not config.topic:
            raise ValueError(f"{ctx.name}.topic is not set: name the topic that carries the grid power")
        if config.tls_ca_file is not None and not os.path.isfile(config.tls_ca_file):
            raise ValueError(f"tls_ca_file {config.tls_ca_file!r} does not exist")
        self.config = config
        self._ctx = ctx
        self._clock = ctx.clock
        self._log = ctx.logger
        self._path = path_segments(config.json_path)
        self._lock = threading.Lock()
        self._latest: MeterReading | None = None
        self._refusals: dict[str, tuple[float, int]] = {}
        self._retained_logged = False
        self._down_logged = False
        self._started = False
        self._closed = False
        self.accepted = 0
        self.refused = 0
        self._client = self._make_client()

    def open(self) -> None:
        """Start connecting in paho's thread; returns at once (a broker that is down is retried there)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._closed = False
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self._client.loop_start()

    def latest(self) -> MeterReading | None:
        """The newest value while younger than ``stale_after_s``, else ``None``; never blocks."""
        reading = self._latest
        if reading is None or self._clock.now() - reading.taken_at_s > self.config.stale_after_s:
            return None
        return reading

    def close(self) -> None:
        """Disconnect and stop paho's thread (waits at most ~2 s); idempotent, never raises."""
        with self._lock:
            if self._closed or not self._started:
                self._closed = True
                return
            self._closed = True
            self._started = False
        try:
            self._client.disconnect()
        except Exception as exc:
            self._log.debug("mqtt_meter: while closing: %s", exc)
        stopper = threading.Thread(target=self._client.loop_stop, name=f"{self._ctx.name}-close", daemon=True)
        stopper.start()
        stopper.join(CLOSE_WAIT_S)

    # -- paho ----------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"battery-gateway-{self._ctx.name}-{os.getpid()}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.tls_ca_file)
            client.tls_insecure_set(cfg.tls_insecure)
        client.connect_timeout = cfg.connect_timeout_s
        client.reconnect_delay_set(min_delay=1, max_delay=cfg.reconnect_max_s)
        client.on_connect = contained(self._log, "on_connect")(self._on_connect)
        client.on_connect_fail = contained(self._log, "on_connect_fail")(self._on_connect_fail)
        client.on_disconnect = contained(self._log, "on_disconnect")(self._on_disconnect)
        client.on_message = contained(self._log, "on_message")(self._on_message)
        return client

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._note_down(f"the broker refused the connection: {reason}")
            return
        client.subscribe(self.config.topic, qos=self.config.qos)
        was_down, self._down_logged = self._down_logged, False
        cfg = self.config
        if was_down:
            self._log.warning("MQTT broker %s:%d is back", cfg.host, cfg.port)
        else:
            self._log.info("subscribed to %s on %s:%d", cfg.topic, cfg.host, cfg.port)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._note_down("cannot connect")

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if not self._closed:
            self._note_down(f"connection lost ({reason})")

    def _note_down(self, why: str) -> None:
        if self._down_logged or self._closed:
            return
        self._down_logged = True
        cfg = self.config
        self._log.warning(
            "MQTT broker %s:%d: %s; no meter until it is back (retrying in the background)",
            cfg.host,
            cfg.port,
            why,
        )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.take(bytes(message.payload), retained=bool(message.retain))

    def take(self, payload: bytes, *, retained: bool = False) -> MeterReading | None:
        """Parse one payload received now; keep it as the latest value when it holds a power."""
        now = self._clock.now()
        if retained and not self.config.accept_retained:
            if not self._retained_logged:
                self._retained_logged = True
                self._log.info(
                    "ignoring the retained value on %s: its age is unknown (accept_retained uses it)",
                    self.config.topic,
                )
            return None
        cfg = self.config
        try:
            power = grid_power(
                payload, self._path, max_bytes=cfg.max_payload_bytes, scale=cfg.scale, invert=cfg.invert
            )
        except PayloadError as exc:
            self._refuse(exc, now)
            return None
        reading = MeterReading(meter_id=f"{self._ctx.name}:{cfg.topic}", taken_at_s=now, grid_power_w=power)
        self._latest = reading
        self.accepted += 1
        return reading

    def _refuse(self, exc: PayloadError, now: float) -> None:
        last, count = self._refusals.get(exc.reason, (None, 0))
        if last is not None and now - last < LOG_EVERY_S:
            self._refusals[exc.reason] = (last, count + 1)
            self.refused += 1
            return
        self._refusals[exc.reason] = (now, 0)
        more = f" ({count} more since the last report)" if count else ""
        self._log.warning(
            "payload on %s refused (%s): %s%s; the last value ages out",
            self.config.topic,
            exc.reason,
            exc,
            more,
        )
        self.refused += 1  # counted once handled (tests wait on it)
