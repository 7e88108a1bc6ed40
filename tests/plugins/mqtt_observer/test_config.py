"""The [mqtt] section, the plugin's registration and its lazy imports."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import mqtt_observer
from gateway_core.errors import ConfigError
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import CycleObserver
from gateway_core.settings import build_section
from mqtt_observer.config import MqttConfig, default_device_id, sanitise_id
from tests.fakes import FakeClock
from tests.plugins.mqtt_observer.helpers import make_observer


def test_defaults():
    config = MqttConfig()
    assert (config.host, config.port, config.qos, config.interval_s) == ("localhost", 1883, 0, 10.0)
    assert config.discovery and config.discovery_prefix == "homeassistant"
    assert not config.accept_commands and not config.tls
    assert config.device_id == default_device_id()
    assert config.topic == f"battery-gateway/{config.device_id}"
    assert config.name == f"Battery {config.device_id}"


def test_base_topic_overrides_the_default():
    config = build_section(MqttConfig, "mqtt", {"base_topic": "home/battery", "device_id": "shed"})
    assert config.topic == "home/battery"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("RaspberryPi", "raspberrypi"), ("my host.local", "my_host_local"), ("--", "gateway"), ("", "gateway")],
)
def test_sanitise_id(text, expected):
    assert sanitise_id(text) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": 0}, "port = 0 is out of range; accepted: 1 to 65535"),
        ({"qos": 2}, "qos = 2 is out of range"),
        ({"interval_s": 0.5}, "interval_s = 0.5 is out of range"),
        ({"password": "x"}, "password is set but username is not"),
        ({"tls_ca_file": "/etc/ca.pem"}, "tls_ca_file and tls_insecure need tls = true"),
        ({"base_topic": "home/#"}, "must not contain '+', '#'"),
        ({"base_topic": "/home"}, "must not start or end with '/'"),
        ({"device_id": "my battery"}, "may only contain letters, digits"),
        ({"host": ""}, "host must not be empty"),
        # paho would raise UnicodeError (not OSError) on its own thread and die with a traceback
        ({"host": "bad..host"}, "host = 'bad..host' is not a valid host name"),
        ({"host": "x" * 64 + ".lan"}, "is not a valid host name"),
        ({"host": "my broker"}, "must not contain spaces or control characters"),
        ({"protocol": "v4"}, 'protocol = "v4" is not allowed; accepted: v5, v3.1.1'),
        ({"override_default_duration_s": 7200.0}, "is longer than override_max_duration_s"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_bad_config_is_one_precise_line(values, message):
    with pytest.raises(ConfigError) as info:
        build_section(MqttConfig, "mqtt", values)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_registered_as_observer_mqtt_with_its_config():
    pm = make_plugin_manager(entry_points=False)
    pm.register(mqtt_observer, name="mqtt")
    registration = collect_registrations(pm).get("observer", "mqtt")
    assert registration.config is MqttConfig


def test_installed_entry_point_is_the_package():
    (ep,) = [ep for ep in entry_points(group="battery_gateway") if ep.name == "mqtt"]
    assert ep.value == "mqtt_observer"


def test_built_observer_fits_the_role_and_close_is_idempotent_without_io():
    observer = make_observer(FakeClock(), port=1)
    assert isinstance(observer, CycleObserver)
    observer.close()
    observer.close()
    assert not observer.connected


def test_missing_ca_file_fails_at_build_time(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        make_observer(FakeClock(), tls=True, tls_ca_file=str(tmp_path / "nope.pem"))


def test_plugin_import_does_not_import_paho():
    code = "import sys, mqtt_observer; print('paho' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
