"""The ``[mqtt_meter]`` section: broker (same keys as ``[mqtt]``), topic, payload format (stdlib only)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway_core.settings import setting

_SEGMENT = re.compile(r"[^.\s]+")


def path_segments(json_path: str) -> tuple[str, ...]:
    """``"ENERGY.Power"`` -> ``("ENERGY", "Power")``, ``""`` -> ``()``. :raises ValueError: an empty key."""
    if not json_path:
        return ()
    segments = tuple(json_path.split("."))
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        example = '"ENERGY.Power" or "emeters.0.power"'
        raise ValueError(f"json_path = {json_path!r}: expected keys joined by '.', e.g. {example}")
    return segments


@dataclass(frozen=True, slots=True)
class MqttMeterConfig:
    """A grid meter whose power arrives on an MQTT topic (Shelly, Tasmota, Home Assistant, ...)."""

    host: str = setting("localhost", help="MQTT broker host name or address")
    port: int = setting(1883, min=1, max=65535, help="MQTT broker TCP port (8883 is usual with TLS)")
    username: str | None = setting(None, help="user name for the broker (none: anonymous)")
    password: str | None = setting(None, secret=True, help="password for the broker (needs username)")
    tls: bool = setting(False, help="connect with TLS")
    tls_ca_file: str | None = setting(None, help="CA bundle to verify the broker (none: system CAs)")
    tls_insecure: bool = setting(False, help="do not check the broker's host name (TLS only)")
    keepalive_s: int = setting(60, min=5, max=3600, unit="seconds", help="MQTT keepalive")
    connect_timeout_s: float = setting(
        5.0, min=0.5, max=120.0, unit="seconds", help="TCP/TLS connect timeout (network thread only)"
    )
    reconnect_max_s: int = setting(
        30, min=1, max=3600, unit="seconds", help="longest wait between reconnect attempts (1, 2, 4 ..)"
    )
    topic: str = setting("", help='topic carrying the grid power, e.g. "tele/meter/SENSOR" (required)')
    json_path: str = setting(
        "", help='"" for a plain number; else the key path in a JSON payload, e.g. "ENERGY.Power"'
    )
    invert: bool = setting(False, help="flip the sign: for a meter that reports export as positive")
    scale: float = setting(
        1.0, min=0.001, max=1000.0, help="multiply the value by this (1000 for a payload in kW)"
    )
    stale_after_s: float = setting(
        10.0, min=1.0, max=3600.0, unit="seconds", help="a value older than this is absent (no meter)"
    )
    qos: int = setting(0, min=0, max=1, help="MQTT QoS of the subscription")
    accept_retained: bool = setting(False, help="use a retained message (its age is unknown: off by default)")
    max_payload_bytes: int = setting(
        4096, min=16, max=65536, unit="bytes", help="longer payloads are refused (and logged)"
    )

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        if any(ch in self.topic for ch in "+#\x00"):
            raise ValueError(f"topic = {self.topic!r} must name one topic (no '+', '#' or NUL)")
        path_segments(self.json_path)
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        if not self.tls and (self.tls_ca_file is not None or self.tls_insecure):
            raise ValueError("tls_ca_file and tls_insecure need tls = true")
