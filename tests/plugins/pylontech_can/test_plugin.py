"""Registration, lazy imports and config validation of the ``pylontech`` plugin."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from gateway_core.errors import ConfigError
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import InverterSink, PluginContext
from gateway_core.settings import build_section
from pylontech_can.config import PylontechConfig
from pylontech_can.profile import resolve
from tests.fakes import FakeClock


def test_registered_as_the_pylontech_sink_and_builds_from_defaults() -> None:
    registry = collect_registrations(make_plugin_manager())
    reg = registry.entries["pylontech"]
    assert reg.role == "sink" and reg.config is PylontechConfig
    sink = reg.factory(PylontechConfig(), PluginContext("pylontech", FakeClock(), logging.getLogger("t")))
    assert isinstance(sink, InverterSink)
    sink.close()
    sink.close()


def test_importing_the_package_loads_neither_python_can_nor_cantools() -> None:
    code = "import sys, pylontech_can; print('can' in sys.modules, 'cantools' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"manufacturer": "PYLONTECH"}, "at most 8 ASCII characters"),
        ({"manufacturer": "PYLÖN"}, "at most 8 ASCII characters"),
        ({"manufacturer": "PY\tLON"}, "printable"),
        ({"module_count": 0}, "out of range"),
        ({"system_error_bit": 5}, "accepted: 3, 7"),
        ({"temperature_mode": "avg"}, "temperature_mode"),
        ({"frame_gap_s": 0.5}, "out of range"),
        ({"force_charge_soc_pct": 20.0, "force_charge_release_soc_pct": 15.0}, "must be above"),
        ({"bus_options": {"channel": "can1"}}, "bus_options must not set channel"),
        ({"channel": ""}, "channel must not be empty"),
    ],
)
def test_bad_config_is_one_precise_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build_section(PylontechConfig, "pylontech", values)
    assert "\n" not in str(info.value)


def test_bus_options_accept_scalars() -> None:
    config = build_section(
        PylontechConfig, "pylontech", {"bus_options": {"tty_baudrate": 115200, "rtscts": False, "x": "y"}}
    )
    assert dict(config.bus_options) == {"tty_baudrate": 115200, "rtscts": False, "x": "y"}
    assert config.manufacturer is None  # the profile's name (generic: PYLON) unless set here
    assert resolve(config).manufacturer_bytes == b"PYLON   "
