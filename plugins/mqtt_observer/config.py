"""The ``[mqtt]`` section: broker, topics, Home Assistant discovery and the optional override command.

Stdlib only: imported by the plugin's ``__init__`` at start-up, before paho is needed.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from gateway_core.settings import setting

_ID_OK = re.compile(r"[A-Za-z0-9_-]+")

#: The MQTT versions the observer speaks (``protocol``).
PROTOCOLS = ("v5", "v3.1.1")


def sanitise_id(text: str) -> str:
    """Lower-case ``text``, keep only ``[a-z0-9_-]`` (others become ``_``); ``gateway`` if empty."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "_", text.strip().lower()).strip("_-")
    return cleaned or "gateway"


def default_device_id() -> str:
    """The device id used when none is configured: the host name, sanitised (``raspberrypi``)."""
    try:
        host = socket.gethostname().split(".")[0]
    except OSError:
        host = ""
    return sanitise_id(host)


def _check_topic(key: str, topic: str) -> None:
    if any(ch in topic for ch in "+#\x00"):
        raise ValueError(f"{key} = {topic!r} must not contain '+', '#' or NUL (MQTT wildcards)")
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        raise ValueError(f"{key} = {topic!r} must not start or end with '/' or contain an empty level")


def _check_host(host: str) -> None:
    # socket.create_connection encodes the name with IDNA; a name it cannot encode would raise
    # UnicodeError (not an OSError) on paho's thread, which paho does not catch.
    if any(ch.isspace() or ord(ch) < 32 for ch in host):
        raise ValueError(f"host = {host!r} must not contain spaces or control characters")
    try:
        host.encode("idna")
    except UnicodeError:
        raise ValueError(
            f"host = {host!r} is not a valid host name (empty label, or a label over 63 characters)"
        ) from None


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """The ``[mqtt]`` section of the gateway config."""

    host: str = setting("localhost", help="MQTT broker host name or address")
    port: int = setting(1883, min=1, max=65535, help="MQTT broker TCP port (8883 is usual with TLS)")
    protocol: str = setting(
        "v5",
        choices=PROTOCOLS,
        help="MQTT version: v5 (the broker drops messages over the size cap) or v3.1.1 for old brokers",
    )
    username: str | None = setting(None, help="user name for the broker (none: anonymous)")
    password: str | None = setting(None, secret=True, help="password for the broker (needs username)")
    tls: bool = setting(False, help="connect with TLS")
    tls_ca_file: str | None = setting(None, help="CA bundle to verify the broker (none: system CAs)")
    tls_insecure: bool = setting(False, help="do not check the broker's host name (TLS only)")
    base_topic: str = setting("", help='topic prefix ("" means battery-gateway/<device_id>)')
    device_id: str = setting(
        default_device_id(), help="id of this gateway in topics and Home Assistant (default: host name)"
    )
    device_name: str = setting(
        "", help='device name shown in Home Assistant ("" means "Battery <device_id>")'
    )
    discovery: bool = setting(True, help="publish Home Assistant MQTT discovery configs")
    discovery_prefix: str = setting("homeassistant", help="Home Assistant discovery prefix")
    interval_s: float = setting(
        10.0, min=1.0, max=3600.0, unit="seconds", help="publish the state at least this often"
    )
    qos: int = setting(0, min=0, max=1, help="MQTT QoS of state and discovery messages")
    keepalive_s: int = setting(60, min=5, max=3600, unit="seconds", help="MQTT keepalive")
    connect_timeout_s: float = setting(
        5.0, min=0.5, max=120.0, unit="seconds", help="TCP/TLS connect timeout (network thread only)"
    )
    reconnect_max_s: int = setting(
        30, min=1, max=3600, unit="seconds", help="longest wait between reconnect attempts (1, 2, 4 ..)"
    )
    accept_commands: bool = setting(False, help="accept a temporary charge limit override over MQTT")
    override_default_duration_s: float = setting(
        900.0, min=1.0, max=86400.0, unit="seconds", help="how long an override lasts when not said"
    )
    override_max_duration_s: float = setting(
        3600.0, min=1.0, max=86400.0, unit="seconds", help="longest override accepted"
    )

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        _check_host(self.host)
        if not _ID_OK.fullmatch(self.device_id):
            raise ValueError(f"device_id = {self.device_id!r} may only contain letters, digits, '_' and '-'")
        if self.base_topic:
            _check_topic("base_topic", self.base_topic)
        if not self.discovery_prefix:
            raise ValueError("discovery_prefix must not be empty")
        _check_topic("discovery_prefix", self.discovery_prefix)
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        if not self.tls and (self.tls_ca_file is not None or self.tls_insecure):
            raise ValueError("tls_ca_file and tls_insecure need tls = true")
        if self.override_default_duration_s > self.override_max_duration_s:
            raise ValueError(
                f"override_default_duration_s = {self.override_default_duration_s:g} is longer than "
                f"override_max_duration_s = {self.override_max_duration_s:g}"
            )

    @property
    def topic(self) -> str:
        """The base topic in effect (``battery-gateway/<device_id>`` unless configured)."""
        return self.base_topic or f"battery-gateway/{self.device_id}"

    @property
    def name(self) -> str:
        """The device name in effect for Home Assistant."""
        return self.device_name or f"Battery {self.device_id}"
