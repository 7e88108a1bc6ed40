"""The jk_uart source over the jksim:// URL handler: readings, deadlines, faults, unplug, config."""

from __future__ import annotations

import itertools
import logging

import pytest

from gateway_core.clock import MonotonicClock
from gateway_core.errors import ConfigError, FrameError, SourceError, SourceTimeout, SourceUnavailable
from gateway_core.model import Alarm
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import BmsSource, PluginContext
from gateway_core.settings import build_section
from jk_uart.config import JkUartConfig
from jk_uart.simulator import SimulatedBms, forget_simulator, get_simulator
from jk_uart.source import JkUartSource
from tests.fakes import FakeClock

_names = itertools.count()


@pytest.fixture
def sim_name():
    name = f"test-source-{next(_names)}"
    yield name
    forget_simulator(name)


def make_source(url: str, clock=None, **config) -> JkUartSource:
    cfg = JkUartConfig(port=url, timeout=config.pop("timeout", 0.1), **config)
    return JkUartSource(cfg, PluginContext("jk_uart", clock or MonotonicClock(), logging.getLogger("t")))


@pytest.fixture
def source(sim_name):
    src = make_source(f"jksim://?cells=16&current=-12.5&soc=60&name={sim_name}&clock=manual")
    src.open()
    yield src
    src.close()


def test_reading_carries_the_simulated_values_and_the_engine_clock(sim_name):
    clock = FakeClock(start=500.0)
    src = make_source(f"jksim://?cells=8&current=20&name={sim_name}&clock=manual", clock=clock)
    src.open()
    reading = src.read()
    status = get_simulator(sim_name).status
    assert reading.taken_at_s == 500.0
    assert reading.cell_voltages_v == status.cell_voltages_v
    assert reading.current_a == 20.0
    assert reading.voltage_v == status.voltage_v
    assert reading.soc_pct == status.soc_pct
    assert reading.bms_charge_current_limit_a == 100.0
    assert clock.sleeps == []  # no fixed sleeps: it returned as the frame completed
    src.close()


@pytest.mark.parametrize("fault", ["split", "noise", "echo"])
def test_recoverable_faults_still_give_a_reading(source, sim_name, fault):
    get_simulator(sim_name).inject(fault, 1)
    assert source.read().cell_count == 16


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        ("silence", SourceTimeout, "no reply"),
        ("garbage", FrameError, "garbage"),
        ("bad_checksum", FrameError, "checksum mismatch"),
        ("trickle", SourceTimeout, "incomplete reply"),
    ],
)
def test_failing_faults_raise_and_the_next_read_recovers(source, sim_name, fault, error, text):
    sim = get_simulator(sim_name)
    sim.inject(fault, 1)
    with pytest.raises(error, match=text) as info:
        source.read()
    assert not isinstance(info.value, SourceUnavailable)
    assert source.read().cell_count == 16


def test_silent_port_times_out_even_on_a_frozen_clock(sim_name):
    src = make_source(f"jksim://?name={sim_name}&clock=manual", clock=FakeClock(), timeout=0.05)
    src.open()
    get_simulator(sim_name).inject("silence")
    with pytest.raises(SourceTimeout):
        src.read()
    src.close()


def test_unplug_raises_unavailable_and_replug_reopens(source, sim_name):
    sim = get_simulator(sim_name)
    sim.unplug()
    with pytest.raises(SourceUnavailable, match="disconnected"):
        source.read()
    with pytest.raises(SourceUnavailable, match="not open"):
        source.read()
    with pytest.raises(SourceUnavailable, match="unplugged"):
        source.open()
    sim.plug()
    source.open()
    assert source.read().cell_count == 16


def test_boot_values_are_no_reading(source, sim_name):
    get_simulator(sim_name).booting = True
    with pytest.raises(SourceError, match="booting"):
        source.read()
    assert source.read_status().soc_pct == 0


def test_boot_check_can_be_disabled(sim_name):
    get_simulator(sim_name, soc_pct=50).booting = True
    src = make_source(f"jksim://?name={sim_name}", boot_check=False)
    src.open()
    assert src.read().soc_pct == 0
    src.close()


def test_invert_current(sim_name):
    src = make_source(f"jksim://?current=-3&name={sim_name}&clock=manual", invert_current=True)
    src.open()
    assert src.read().current_a == 3.0
    src.close()


def test_zero_cell_gives_an_alarmed_reading(source, sim_name):
    get_simulator(sim_name).set_cell_zero(2)
    reading = source.read()
    assert reading.cell_voltages_v[1] == 0.0
    assert Alarm.CELL_ZERO_VOLTAGE in reading.alarms


def test_url_handler_steps_the_simulator_in_real_time(sim_name):
    src = make_source(f"jksim://?current=50&soc=50&capacity=1&name={sim_name}&speed=100000")
    src.open()
    first = src.read().soc_pct
    for _ in range(3):
        last = src.read().soc_pct
    assert last > first
    src.close()


def test_bad_url_is_unavailable_with_the_reason():
    src = make_source("jksim://?cells=99")
    with pytest.raises(SourceUnavailable, match="3 to 32"):
        src.open()
    src = make_source("jksim://?colour=red")
    with pytest.raises(SourceUnavailable, match="unknown option 'colour'"):
        src.open()


def test_missing_device_is_unavailable(tmp_path):
    src = make_source(str(tmp_path / "ttyUSB9"))
    with pytest.raises(SourceUnavailable, match="cannot open"):
        src.open()
    src.close()


def test_read_before_open_is_unavailable():
    with pytest.raises(SourceUnavailable):
        make_source("jksim://").read()


def test_close_is_idempotent(source):
    source.read()
    source.close()
    source.close()
    with pytest.raises(SourceUnavailable, match="is not open"):
        source.read()


def test_rs485_mode_on_the_simulator_url(sim_name):
    src = make_source(f"jksim://?name={sim_name}", rs485=True)
    src.open()
    assert src.read().cell_count == 16
    src.close()


def test_registered_source_builds_from_defaults_and_fits_the_protocol():
    registry = collect_registrations(make_plugin_manager())
    entry = registry.entries["jk_uart"]
    assert entry.config is JkUartConfig
    config = build_section(JkUartConfig, "jk_uart", {})
    src = entry.factory(config, PluginContext("jk_uart", MonotonicClock(), logging.getLogger("t")))
    assert isinstance(src, BmsSource)
    src.close()
    src.close()


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"timeout": 9.0}, "out of range"),
        ({"timeout": 0.01}, "out of range"),
        ({"baudrate": 12345}, "not allowed"),
        ({"source_byte": 1}, "not allowed"),
        ({"prot": "x"}, "unknown key"),
    ],
)
def test_config_is_validated(values, text):
    with pytest.raises(ConfigError, match=text):
        build_section(JkUartConfig, "jk_uart", values)


def test_simulator_object_is_reachable_by_name(sim_name):
    src = make_source(f"jksim://?cells=12&name={sim_name}")
    src.open()
    assert isinstance(get_simulator(sim_name), SimulatedBms)
    assert get_simulator(sim_name).cells == 12
    src.close()


def test_reads_never_reprogram_the_port(source, monkeypatch):
    """Setting ``port.timeout`` runs tcsetattr, which reprograms a USB-serial adapter: once at open only."""
    port = source._port
    original = type(port).timeout
    sets: list[object] = []

    def record(self, value):
        sets.append(value)
        original.fset(self, value)

    monkeypatch.setattr(type(port), "timeout", property(original.fget, record))
    for _ in range(3):
        source.read()
    assert sets == []
