"""Regression tests for the jk_uart items of issue 23 (each failed on the main of commit b487495).

Item 2: late replies are not taken as fresh; item 4: decodable nonsense is an ImplausibleReply;
item 10: ``decode -`` on binary stdin; item 15: one gateway per port; item 19: a timeout longer than
the cycle allows. Plus the simulator's place in the shared contract suite (simkit).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import subprocess
import sys
import time

import pytest

from gateway_core.errors import FrameError, ImplausibleReply, SourceTimeout, SourceUnavailable
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.ptysim import PtyServer, wire_time_s
from gateway_core.roles import PluginContext
from gateway_core.simkit import FAULTS, Chunk, SimulatedDevice
from jk_uart import faults
from jk_uart.config import JkUartConfig
from jk_uart.decode import decode_frame
from jk_uart.encode import NEW_FIRMWARE_TAIL, ORDER, encode_records
from jk_uart.matching import WIRE_MARGIN, earliest_reply_s, pick_reply
from jk_uart.protocol import JkFrameError, build_frame, build_request, parse_frame
from jk_uart.simulator import SimulatedBms, forget_simulator, get_simulator
from jk_uart.source import JkUartSource, port_resources
from tests.fakes import FakeClock

from .helpers import FRAMES, SkewClock

_names = itertools.count()


@pytest.fixture
def sim_name():
    name = f"test-hardening-{next(_names)}"
    yield name
    forget_simulator(name)


def source_on(port: str, clock=None, period_s: float = 1.0, **config) -> JkUartSource:
    ctx = PluginContext("pack1", clock or SkewClock(), logging.getLogger("t.jk"), period_s=period_s)
    return JkUartSource(JkUartConfig(port=port, **config), ctx)


# -- item 2: replies that were already in flight ---------------------------------------------------


class BufferingLink:
    """A SimulatedBms behind a link that holds each reply back until the next request is sent.

    Each request is answered at once (no wire time) with the reply to the *previous* request, as a
    buffering ``socket://`` adapter releases its backlog: the bytes are complete before a real reply
    could be.
    """

    def __init__(self, sim: SimulatedBms) -> None:
        self.sim = sim
        self.held: list[Chunk] = []

    @property
    def unplugged(self) -> bool:
        return self.sim.unplugged

    @property
    def requests(self) -> int:
        return self.sim.requests

    def step(self, dt_s: float) -> None:
        self.sim.step(dt_s)

    def respond(self, data: bytes) -> list[Chunk]:
        fresh = self.sim.respond(data)
        released, self.held = self.held, fresh or self.held
        return released


def test_a_reply_already_in_flight_when_the_request_goes_out_is_not_taken_as_fresh(tmp_path):
    sim = SimulatedBms(cells=16, soc_pct=60.0)
    with PtyServer(BufferingLink(sim), link=str(tmp_path / "ttyLag"), speed=0) as server:  # type: ignore[arg-type]
        # 9600 baud: a real reply needs >= 0.3 s, so the released backlog (a few ms) is far too early
        src = source_on(server.path, baudrate=9600, timeout=0.5)
        src.open()
        try:
            with pytest.raises(SourceTimeout, match="no reply"):
                src.read()  # the link holds the first reply back
            for soc in (70.0, 80.0):
                sim.set_soc(soc)
                with pytest.raises(SourceTimeout, match="no fresh reply") as info:
                    src.read()  # gets the reply to the previous request (SOC 60, then 70)
                assert "earlier" in str(info.value) and "\n" not in str(info.value)
        finally:
            src.close()


@pytest.mark.parametrize(
    ("elapsed_s", "early"),
    [
        (0.0, True),
        (0.9 * 312 * 10 / 115200 - 1e-4, True),
        (0.9 * 312 * 10 / 115200 + 1e-4, False),
        (5.0, False),
    ],
)
def test_a_frame_complete_sooner_than_its_wire_time_is_early(elapsed_s, early):
    reply = parse_frame(FRAMES["reply_16s_lfp_bd6a17s6p_fw7.1.0H"])  # 291 bytes, after a 21-byte request
    pick = pick_reply([reply], command=0x06, request_len=21, elapsed_s=elapsed_s, baud=115200)
    assert (pick.reply is None, pick.early) == ((True, 1) if early else (False, 0))
    assert earliest_reply_s(21, 291, 115200) == pytest.approx(WIRE_MARGIN * wire_time_s(312, 115200))


def test_a_reply_to_another_command_or_an_echo_is_not_ours():
    echo = parse_frame(build_request())
    other = parse_frame(FRAMES["reply_14s_b1a20s15p_fw11.261_cmd03"])  # answers a 03 request
    ours = parse_frame(FRAMES["reply_16s_lfp_bd6a17s6p_fw7.1.0H"])
    pick = pick_reply([echo, other, ours], command=0x06, request_len=21, elapsed_s=1.0, baud=115200)
    assert (pick.reply, pick.echoes, pick.foreign, pick.early) == (ours, 1, 1, 0)


def test_jksim_delivers_a_reply_no_sooner_than_its_wire_time(sim_name):
    import serial

    from jk_uart.source import enable_simulator_urls

    enable_simulator_urls()
    port = serial.serial_for_url(f"jksim://?name={sim_name}&clock=manual", baudrate=9600, timeout=0.05)
    request = build_request()
    before = time.monotonic()
    port.write(request)
    reply_len = len(get_simulator(sim_name).encode_reply())
    due = port._pending[-1][0]  # when the reply's last byte is delivered
    assert due - before >= wire_time_s(len(request) + reply_len, 9600)
    assert port.in_waiting == 0  # 0.33 s of wire time at 9600 baud: nothing is there yet
    port.close()


def test_the_source_reads_a_paced_simulator_at_a_slow_baud(sim_name):
    src = source_on(f"jksim://?name={sim_name}&clock=manual", baudrate=9600, timeout=0.8, period_s=2.0)
    src.open()
    assert src.read().cell_count == 16
    src.close()


# -- item 4: decodable nonsense -----------------------------------------------------------------


def reply_with(**raw: bytes) -> bytes:
    """A valid, checksummed 16-cell reply whose records ``raw`` (``x80=b"..."``) are replaced as given."""
    records = encode_records(SimulatedBms(cells=16).status)
    for key, value in raw.items():
        records[int(key[1:], 16)] = value
    data = b"".join(bytes((i,)) + records[i] for i in (*ORDER, *NEW_FIRMWARE_TAIL))
    return build_frame(data)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ({"x85": b"\xff"}, "SOC 255"),
        ({"x80": (200).to_bytes(2, "big")}, "temperature code 200"),
        ({"x81": (141).to_bytes(2, "big")}, "temperature code 141"),
        ({"xC0": b"\x07"}, "protocol version 0x07"),
        ({"x8A": (15).to_bytes(2, "big")}, "says 15 cells"),
        ({"xA9": b"\x20"}, "says 32 cells"),
    ],
)
def test_decodable_nonsense_is_an_implausible_reply(raw, text):
    frame = parse_frame(reply_with(**raw))  # framing and checksum are valid
    with pytest.raises(ImplausibleReply, match=text) as info:
        decode_frame(frame)
    assert isinstance(info.value, JkFrameError) and info.value.reason == "implausible"


def test_a_structural_error_is_not_called_implausible():
    frame = parse_frame(build_frame(b"\x01\x02\x03"))
    with pytest.raises(FrameError) as info:
        decode_frame(frame)
    assert not isinstance(info.value, ImplausibleReply)


def test_the_nonsense_fault_reaches_the_engine_as_an_implausible_reply(sim_name):
    src = source_on(f"jksim://?name={sim_name}&clock=manual", timeout=0.2)
    src.open()
    get_simulator(sim_name).inject("nonsense", 1)
    with pytest.raises(ImplausibleReply, match="SOC 255"):
        src.read()
    assert src.read().soc_pct == 50.0
    src.close()


# -- the simulator in the shared contract suite --------------------------------------------------

#: What the source does with each standard fault: the exception it raises, or None (it reads through).
FAULT_OUTCOMES = {
    "silence": SourceTimeout,
    "garbage": FrameError,
    "bad_checksum": FrameError,
    "nonsense": ImplausibleReply,
    "split": None,
    "trickle": SourceTimeout,
    "noise": None,
    "echo": None,
}


def test_the_simulator_is_a_simkit_device_and_registered_for_the_contract_tests():
    assert faults.FAULTS == FAULTS and set(FAULT_OUTCOMES) == set(FAULTS)
    entry = collect_registrations(make_plugin_manager()).entries["jk_uart"]
    assert entry.simulator is not None
    sim = entry.simulator(8)
    assert isinstance(sim, SimulatedBms) and isinstance(sim, SimulatedDevice)
    assert sim.cells == 8 and sim.source_settings("/dev/ttyX") == {"port": "/dev/ttyX"}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_standard_fault_fails_safe_or_reads_through(sim_name, fault):
    src = source_on(f"jksim://?name={sim_name}&clock=manual", timeout=0.15)
    src.open()
    get_simulator(sim_name).inject(fault, 1)
    outcome = FAULT_OUTCOMES[fault]
    if outcome is None:
        assert src.read().cell_count == 16
    else:
        with pytest.raises(outcome) as info:
            src.read()
        assert not isinstance(info.value, SourceUnavailable)
    assert src.read().cell_count == 16  # and the next reply is read again
    src.close()


# -- item 10: binary stdin ----------------------------------------------------------------------


def run_decode(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    env.pop("PYTHONIOENCODING", None)
    return subprocess.run(
        [sys.executable, "-m", "gateway_core", "jk_uart", "decode", "-"],
        input=stdin, capture_output=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_decode_of_binary_stdin_under_a_utf8_locale_is_one_line_and_exit_1():
    done = run_decode(b"\xff\xfe\x00\x80 not a frame \xc3")
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr.decode()
    assert "neither hex text nor a binary frame" in lines[0] and "0xFF at offset 0" in lines[0]


def test_decode_reads_a_raw_binary_frame_from_stdin():
    done = run_decode(FRAMES["reply_16s_lfp_bd6a17s6p_fw7.1.0H"])
    assert done.returncode == 0, done.stderr
    assert b'"cell_count": 16' in done.stdout


# -- item 15: one gateway per port ----------------------------------------------------------------


def test_a_second_source_on_the_same_device_is_refused_with_one_clear_line(tmp_path):
    with PtyServer(SimulatedBms(), link=str(tmp_path / "ttyJK"), speed=0, baud=115200) as server:
        first, second = source_on(server.path), source_on(os.path.realpath(server.path))
        first.open()
        try:
            with pytest.raises(SourceUnavailable, match="another program holds it") as info:
                second.open()
            assert "\n" not in str(info.value)
            assert first.read().cell_count == 16
            first.close()
            second.open()  # free again once the first lets go
            assert second.read().cell_count == 16
        finally:
            first.close()
            second.close()


def test_resources_name_the_real_device_behind_a_link(tmp_path):
    with PtyServer(SimulatedBms(), link=str(tmp_path / "by-id-link"), speed=0) as server:
        src = source_on(server.path)
        assert src.resources() == (f"serial:{os.path.realpath(server.path)}",)
        assert server.slave_path is not None and server.slave_path in src.resources()[0]
    assert port_resources("socket://192.0.2.7:4001") == ("serial:socket://192.0.2.7:4001",)
    assert port_resources("jksim://?cells=16") == ()


# -- item 19: a timeout longer than the cycle allows ----------------------------------------------


def test_a_timeout_longer_than_the_cycle_allows_is_warned_once_and_capped(caplog):
    caplog.set_level(logging.WARNING, logger="t.jk")
    src = source_on("jksim://", clock=FakeClock(), period_s=1.0, timeout=2.0)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "timeout = 2 s" in warnings[0] and "0.6 s" in warnings[0]
    assert src.timeout_s == 0.6
    caplog.clear()
    fitting = source_on("jksim://", clock=FakeClock(), period_s=1.0, timeout=0.5)
    assert fitting.timeout_s == 0.5 and caplog.records == []


def test_a_capped_timeout_bounds_a_silent_read(sim_name):
    src = source_on(f"jksim://?name={sim_name}&clock=manual", period_s=0.2, timeout=3.0)
    src.open()
    get_simulator(sim_name).inject("silence")
    with pytest.raises(SourceTimeout, match=r"0\.12 s"):
        src.read()
    src.close()


def test_the_registered_factory_gets_the_period(caplog):
    caplog.set_level(logging.WARNING)
    entry = collect_registrations(make_plugin_manager()).entries["jk_uart"]
    ctx = PluginContext("pack1", FakeClock(), logging.getLogger("t.jk"), plugin="jk_uart", period_s=0.5)
    src = entry.factory(dataclasses.replace(JkUartConfig(), timeout=1.0), ctx)
    assert src.timeout_s == 0.3
    assert any(r.name == "t.jk" and "timeout = 1 s" in r.getMessage() for r in caplog.records)
