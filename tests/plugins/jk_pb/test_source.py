"""The jk_pb source over jkpbsim://: readings, settings, layout, faults, a pack that drops off, sharing."""

from __future__ import annotations

import itertools
import logging
import re
import threading

import pytest

from gateway_core.clock import MonotonicClock
from gateway_core.errors import (
    ConfigError,
    FrameError,
    ImplausibleReply,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
)
from gateway_core.model import Alarm
from gateway_core.roles import BmsSource, PluginContext
from gateway_core.serialbus import LineBusy
from gateway_core.settings import build_section
from jk_pb.config import JkPbConfig
from jk_pb.simulator import forget_line, get_line
from jk_pb.source import MISSING_AFTER, JkPbSource

_names = itertools.count()


@pytest.fixture
def name():
    line = f"src-{next(_names)}"
    yield line
    forget_line(line)


def make(url: str, address: int = 1, *, period_s: float = 1.0, **config) -> JkPbSource:
    config.setdefault("bus_gap_s", 0.0)
    cfg = JkPbConfig(port=url, address=address, **config)
    ctx = PluginContext(
        f"pack{address}", MonotonicClock(), logging.getLogger("t"), plugin="jk_pb", period_s=period_s
    )
    return JkPbSource(cfg, ctx)


@pytest.fixture
def source(name):
    src = make(f"jkpbsim://?packs=3&name={name}&clock=manual", 2)
    src.open()
    yield src
    src.close()


def test_a_reading_carries_the_pack_state_and_its_settings(source, name):
    pack = get_line(name).pack(2)
    pack.set_current(-12.5)
    reading = source.read()
    info = pack.cell_info()
    assert isinstance(source, JkPbSource) and isinstance(source, BmsSource)
    assert reading.source_id == "pack2"
    assert reading.cell_voltages_v == info.cell_voltages_v
    assert reading.voltage_v == info.voltage_v
    assert reading.current_a == -12.5
    assert reading.soc_pct == info.soc_pct
    assert reading.temperatures_c == info.battery_temperatures_c
    assert (reading.bms_charge_current_limit_a, reading.bms_discharge_current_limit_a) == (100.0, 150.0)
    assert source.settings is not None and source.settings.address == 2
    assert source.device is not None and source.layout == "32s"


def test_open_reads_device_info_and_settings_once(name):
    src = make(f"jkpbsim://?packs=1&name={name}&clock=manual")
    src.open()
    line = get_line(name)
    assert line.answered[1] == 2  # device info, settings
    src.read()
    src.read()
    assert line.answered[1] == 4
    src.close()


def test_without_device_info_the_first_record_names_the_layout(name):
    line = get_line(name, addresses=(1,), layout="24s", cells=20)
    src = make(f"jkpbsim://?name={name}&clock=manual")
    line.inject("silence", 2)  # none of the device info at open, nor the first settings
    src.open()
    with pytest.raises(SourceTimeout):
        src.read()
    assert src.device is None and src.layout is None
    assert src.read().cell_count == 20
    assert src.layout == "24s"
    src.close()


def test_the_layout_comes_from_the_device_info(name):
    src = make(f"jkpbsim://?packs=1&layout=24s&cells=20&name={name}&clock=manual")
    src.open()
    assert src.layout == "24s"
    assert src.read().cell_count == 20
    src.close()
    forced = make(f"jkpbsim://?packs=1&layout=24s&name={name}&clock=manual", layout="32s")
    forced.open()
    with pytest.raises(ImplausibleReply, match="32s layout"):
        forced.read()
    forced.close()


@pytest.mark.parametrize("fault", ["split", "noise", "echo"])
def test_recoverable_faults_still_give_a_reading(source, name, fault):
    get_line(name).inject(fault, 1)
    assert source.read().cell_count == 16


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        ("silence", SourceTimeout, "no reply"),
        ("garbage", FrameError, "no record"),
        ("bad_checksum", FrameError, "sum mismatch"),
        ("trickle", SourceTimeout, "incomplete reply"),
        ("nonsense", ImplausibleReply, "SOC 255"),
    ],
)
def test_failing_faults_raise_and_the_next_read_recovers(source, name, fault, error, text):
    get_line(name).inject(fault, 1)
    with pytest.raises(error, match=text) as info:
        source.read()
    assert not isinstance(info.value, SourceUnavailable)
    assert source.read().cell_count == 16


def test_a_pack_that_drops_off_times_out_and_its_settings_are_read_again_when_it_returns(source, name):
    line = get_line(name)
    line.drop(2)
    for _ in range(MISSING_AFTER + 1):
        with pytest.raises(SourceTimeout, match="no reply") as info:
            source.read()
        assert not isinstance(info.value, SourceUnavailable)  # the port is fine: keep the last reading
    assert source.settings is None
    line.restore(2)
    before = line.answered[2]
    reading = source.read()
    assert line.answered[2] == before + 2  # settings first, then the cell info
    assert reading.bms_charge_current_limit_a == 100.0


def test_a_pack_absent_at_open_is_read_as_soon_as_it_answers(name):
    line = get_line(name, addresses=(1, 2))
    line.drop(2)
    src = make(f"jkpbsim://?name={name}&clock=manual", 2)
    src.open()  # opens the line; the pack's settings got no answer
    assert src.settings is None and line.answered[2] == 0
    with pytest.raises(SourceTimeout):
        src.read()
    line.restore(2)
    assert src.read().source_id == "pack2"
    src.close()


def test_settings_missing_at_open_are_read_before_any_reading(name):
    line = get_line(name, addresses=(1,))
    line.inject("garbage", 1)  # the settings at open
    src = make(f"jkpbsim://?name={name}&clock=manual")
    src.open()
    assert src.settings is None
    reading = src.read()
    assert reading.bms_charge_current_limit_a == 100.0
    src.close()


def test_unplug_is_unavailable_and_replug_reopens(source, name):
    line = get_line(name)
    line.unplug()
    with pytest.raises(SourceUnavailable):
        source.read()
    with pytest.raises(SourceUnavailable, match="cannot open"):
        source.open()
    line.plug()
    source.open()
    assert source.read().cell_count == 16


def test_a_cell_count_change_shows_in_the_next_reading(source, name):
    get_line(name).set_cell_count(8)
    assert source.read().cell_count == 8


def test_zero_millivolt_cell_and_alarm_bits_reach_the_reading(source, name):
    pack = get_line(name).pack(2)
    pack.set_cell_zero(3)
    pack.set_alarm_bits(1 << 11)
    reading = source.read()
    assert reading.cell_voltages_v[2] == 0.0
    assert reading.alarms == {Alarm.CELL_ZERO_VOLTAGE, Alarm.CELL_UNDERVOLTAGE}


def test_instances_on_one_port_share_one_handle_and_the_last_one_out_closes_it(name):
    url = f"jkpbsim://?packs=3&name={name}&clock=manual"
    sources = [make(url, address) for address in (1, 2, 3)]
    for src in sources:
        src.open()
    lines = {id(src._line) for src in sources}
    assert len(lines) == 1
    line = sources[0]._line
    assert line is not None and line.clients == {"pack1", "pack2", "pack3"}
    readings = [src.read() for src in sources]
    assert [r.source_id for r in readings] == ["pack1", "pack2", "pack3"]
    assert readings[0].cell_voltages_v != readings[1].cell_voltages_v  # each pack answered itself
    for src in sources[:2]:
        src.close()
    assert not line.closed
    sources[2].close()
    assert line.closed


def test_a_pack_waiting_behind_a_held_line_gives_up_within_its_budget(name):
    url = f"jkpbsim://?packs=2&name={name}&clock=manual"
    first, second = make(url, 1, period_s=0.5), make(url, 2, period_s=0.5)
    first.open()
    second.open()
    assert first._line is not None
    held, release = threading.Event(), threading.Event()

    def hog() -> None:
        assert first._line is not None
        with first._line.turn("hog", wait_s=1.0):
            held.set()
            release.wait(5.0)

    thread = threading.Thread(target=hog)
    thread.start()
    held.wait(2.0)
    with pytest.raises(LineBusy, match="line busy") as info:
        second.read()
    waited = float(re.search(r"no turn in ([0-9.]+) s", str(info.value)).group(1))  # type: ignore[union-attr]
    assert 0 < waited <= 0.8 * 0.5 - second.config.bus_gap_s - second.exchange_s  # inside the lane deadline
    release.set()
    thread.join()
    assert second.read().source_id == "pack2"
    first.close()
    second.close()


def test_resources_name_the_real_port(tmp_path):
    link = tmp_path / "ttyJK"
    link.symlink_to("/dev/null")
    src = make(str(link))
    assert src.resources() == ("serial:/dev/null",)


def test_a_missing_port_is_unavailable():
    src = make("/dev/does-not-exist-jkpb")
    with pytest.raises(SourceUnavailable, match="cannot open"):
        src.open()
    with pytest.raises(SourceError):
        src.read()
    src.close()


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"address": 0}, "address"),
        ({"address": 16}, "address"),
        ({"layout": "48s"}, "layout"),
        ({"bus_gap_s": -1}, "bus_gap_s"),
    ],
)
def test_bad_config_is_one_line(values, text):
    with pytest.raises(ConfigError, match=text) as info:
        build_section(JkPbConfig, "pack1", values, dict.fromkeys(values, "test.toml"))
    assert "\n" not in str(info.value)
