"""The source over jbdsim:// (in-process, paced at 9600 baud) and over a real pty: readings and errors."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

import pytest

from gateway_core.clock import MonotonicClock
from gateway_core.errors import FrameError, ImplausibleReply, SourceTimeout, SourceUnavailable
from gateway_core.ptysim import PtyServer
from gateway_core.roles import PluginContext
from gateway_core.simkit import Chunk
from jbd.config import JbdConfig
from jbd.protocol import REG_BASIC, build_reply
from jbd.simulator import SimulatedJbd, forget_simulator, get_simulator
from jbd.source import JbdSource


def make_source(port: str, **settings: object) -> JbdSource:
    ctx = PluginContext("pack1", MonotonicClock(), logging.getLogger("t.jbd"), plugin="jbd")
    return JbdSource(JbdConfig(port=port, **settings), ctx)  # type: ignore[arg-type]


@pytest.fixture
def shared():
    name = f"jbd-{uuid.uuid4().hex[:8]}"
    sim = get_simulator(name, cells=16, soc_pct=60.0, current_a=-12.0, ntc_count=2)
    source = make_source(f"jbdsim://?name={name}&clock=manual", timeout=0.15)
    sim.url = f"jbdsim://?name={name}&clock=manual"  # type: ignore[attr-defined]
    yield sim, source
    source.close()
    forget_simulator(name)


def test_a_poll_reads_basic_info_then_cells_and_the_name_at_open(shared, caplog):
    sim, source = shared
    caplog.set_level(logging.INFO, logger="t.jbd")
    source.open()
    assert source.hardware_name == sim.name
    assert any(sim.name in r.getMessage() for r in caplog.records)
    before = sim.requests
    reading = source.read()
    assert sim.requests == before + 2
    assert reading.cell_voltages_v == sim.cell_voltages()
    assert (reading.current_a, reading.soc_pct, reading.source_id) == (-12.0, 60.0, "pack1")
    assert len(reading.temperatures_c) == 2 and reading.capacity_ah == 100.0
    assert source.last_basic is not None and source.last_basic.cell_count == 16


def test_invert_current(shared):
    sim, _ = shared
    source = make_source(sim.url, invert_current=True)
    source.open()
    assert source.read().current_a == 12.0
    source.close()


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        ("silence", SourceTimeout, "no reply"),
        ("garbage", FrameError, "garbage"),
        ("bad_checksum", FrameError, "checksum mismatch"),
        ("trickle", SourceTimeout, "incomplete"),
        ("nonsense", ImplausibleReply, "SOC 255"),
        ("status_error", FrameError, "status 0x80 (refused)"),
        ("wrong_register", FrameError, "a reply to register 0x04 (cell voltages), not to the 0x03"),
        ("up16s", FrameError, "UP-series (UP16S)"),
    ],
)
def test_faults_raise_the_matching_error(shared, fault, error, words):
    sim, source = shared
    source.open()
    sim.inject(fault)
    with pytest.raises(error, match=re.escape(words)) as caught:
        source.read()
    assert "\n" not in str(caught.value)
    if error is not ImplausibleReply:
        assert not isinstance(caught.value, ImplausibleReply)
    sim.clear_faults()
    assert source.read().cell_count == 16


@pytest.mark.parametrize("fault", ["split", "noise", "echo"])
def test_survivable_faults_still_read(shared, fault):
    sim, source = shared
    source.open()
    sim.inject(fault)
    assert source.read().cell_voltages_v == sim.cell_voltages()


def test_a_silent_bms_at_open_leaves_the_name_unknown(shared, caplog):
    sim, source = shared
    sim.inject("silence")
    source.open()
    assert source.hardware_name is None
    assert any("no hardware name" in r.getMessage() for r in caplog.records)


def test_a_missing_port_is_unavailable():
    source = make_source("/dev/does-not-exist-jbd")
    with pytest.raises(SourceUnavailable, match="cannot open /dev/does-not-exist-jbd"):
        source.open()
    with pytest.raises(SourceUnavailable, match="not open"):
        source.read()
    source.close()
    source.close()


def test_resources_name_the_real_device(tmp_path):
    link = tmp_path / "ttyJBD"
    os.symlink("/dev/null", link)
    assert make_source(str(link)).resources() == ("serial:/dev/null",)
    assert make_source("socket://bms.local:8899").resources() == ("serial:socket://bms.local:8899",)
    assert make_source("jbdsim://?cells=4").resources() == ()  # in-process: nothing to share


@pytest.fixture
def pty(tmp_path):
    sim = SimulatedJbd(cells=8, soc_pct=70.0, current_a=5.0)
    server = PtyServer(sim, link=str(tmp_path / "ttyJBD"), speed=0, baud=9600)
    server.start()
    yield sim, server
    server.stop()


def test_over_a_pty_at_wire_speed(pty):
    sim, server = pty
    source = make_source(server.path)
    source.open()
    reading = source.read()
    assert reading.cell_voltages_v == sim.cell_voltages() and reading.current_a == 5.0
    assert source.hardware_name == sim.name
    source.close()


def test_the_port_is_opened_exclusively(pty):
    _, server = pty
    first, second = make_source(server.path), make_source(server.path)
    first.open()
    with pytest.raises(SourceUnavailable, match="lock"):
        second.open()
    first.close()
    second.open()
    second.close()


def test_a_pulled_adapter_is_unavailable_and_comes_back(pty):
    sim, server = pty
    source = make_source(server.path)
    source.open()
    sim.unplug()
    assert server.wait_state(plugged=False)
    with pytest.raises(SourceUnavailable):
        source.read()
    sim.plug()
    assert server.wait_state(plugged=True)
    wait_for_link(server.path)
    source.open()
    assert source.read().cell_count == 8
    source.close()


def wait_for_link(path: str) -> None:
    """PtyServer.wait_state(plugged=True) may return just before its link is back: wait for it too."""
    end = time.monotonic() + 2.0
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.005)


class BufferingLink(SimulatedJbd):
    """A link that delivers, at once, a 0x03 reply still in flight from an earlier request, then the
    real reply after its wire time (as a buffering RS485 gateway does)."""

    def __init__(self, late: bytes | None, real: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.late, self.real = late, real

    def respond(self, data: bytes) -> list[Chunk]:
        chunks = super().respond(data)
        if not chunks or self.late is None:
            return chunks
        return [Chunk(0.0, self.late)] + ([Chunk(0.08, chunks[0].data)] if self.real else [])


def old_basic_reply() -> bytes:
    old = SimulatedJbd(cells=8, soc_pct=11.0)
    return build_reply(REG_BASIC, old.reply(b"\xdd\xa5\x03\x00\xff\xfd\x77")[4:-3])


def test_a_reply_faster_than_its_wire_time_is_a_late_one_and_dropped(tmp_path):
    sim = BufferingLink(old_basic_reply(), cells=8, soc_pct=70.0)
    with PtyServer(sim, link=str(tmp_path / "ttyLate"), speed=0) as server:  # no pacing: instant bytes
        source = make_source(server.path)
        source.open()
        reading = source.read()
        assert reading.soc_pct == 70.0  # the real reply, not the valid SOC 11 % one already in flight
        source.close()


def test_only_a_late_reply_is_no_reply(tmp_path):
    sim = BufferingLink(old_basic_reply(), real=False, cells=8)
    with PtyServer(sim, link=str(tmp_path / "ttyLate"), speed=0) as server:
        source = make_source(server.path, timeout=0.15)
        source.open()
        with pytest.raises(SourceTimeout, match="late reply to an earlier request"):
            source.read()
        source.close()
