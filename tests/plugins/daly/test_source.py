"""The daly source against simulated units: dalysim:// in process, and real ptys at 9600 baud wire time."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import serial

from daly.config import DalyConfig
from daly.line_sim import SimulatedLine
from daly.protocol_dalysim import forget_line, get_line
from daly.simulator import SimulatedDaly
from daly.source import DalySource
from gateway_core.errors import FrameError, ImplausibleReply, SourceTimeout, SourceUnavailable
from gateway_core.ptysim import PtyServer
from gateway_core.roles import PluginContext
from tests.fakes import FakeClock

from .helpers import SkewClock

LOG = logging.getLogger("test.daly")


def ctx(name: str = "daly", clock=None, period_s: float = 1.0) -> PluginContext:
    return PluginContext(name, clock or SkewClock(), LOG, plugin="daly", period_s=period_s)


@pytest.fixture
def line_name() -> Iterator[str]:
    name = f"daly-{uuid.uuid4().hex[:8]}"
    yield name
    forget_line(name)


def source(port: str, name: str = "daly", clock=None, **keys: object) -> DalySource:
    """A source on ``port``; on dalysim:// at 115200 baud without gaps (the URL paces at the baud
    rate, so this keeps in-process tests quick), on a pty at Daly's real 9600 baud. The period is
    generous: these tests are not about speed, and a loaded machine must not fail them."""
    if port.startswith("dalysim://"):
        keys = {"baudrate": 115200, "bus_gap_s": 0.0, "timeout": 0.1} | keys
    return DalySource(DalyConfig(port=port, **keys), ctx(name, clock, period_s=3.0))  # type: ignore[arg-type]


def test_a_reading_from_a_simulated_unit(line_name):
    url = f"dalysim://?name={line_name}&cells=16&probes=3&current=-20&soc=64"
    src = source(url, capacity_ah=280.0)
    src.open()
    try:
        reading = src.read()
    finally:
        src.close()
    sim = get_line(line_name).unit(1)
    assert reading.cell_voltages_v == sim.cell_voltages() and reading.cell_count == 16
    assert (reading.current_a, reading.soc_pct, reading.capacity_ah) == (-20.0, 64.0, 280.0)
    assert len(reading.temperatures_c) == 3 and reading.remaining_capacity_ah == pytest.approx(179.2, abs=0.1)
    assert src.resources() == (f"serial:{url}",)


def test_ids_the_unit_does_not_answer_are_learned_at_open_and_logged_once(line_name, caplog):
    caplog.set_level(logging.WARNING, logger="test.daly")
    src = source(f"dalysim://?name={line_name}&refuse=98")
    src.open()
    sim = get_line(line_name).unit(1)
    asked_at_open = list(sim.asked)
    for _ in range(3):
        assert src.read().alarms == frozenset()
    src.close()
    src.open()  # a reopen learns again, without a second log line for the same ids
    src.close()
    assert src.skipped == (0x98,) and src.polled_ids == (0x90, 0x93, 0x94, 0x95, 0x96)
    assert asked_at_open.count(0x98) == 2  # asked twice before giving up on it
    assert 0x98 not in sim.asked[len(asked_at_open) : len(asked_at_open) + 3 * 5]
    lines = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert lines == ["daly 'daly': board 1 does not answer 0x98 (failure bits); polling without them"]


def test_a_poll_asks_only_for_what_the_reading_uses(line_name):
    src = source(f"dalysim://?name={line_name}")
    src.open()
    sim = get_line(line_name).unit(1)
    sim.asked.clear()
    src.read()
    src.close()
    assert sim.asked == [0x90, 0x93, 0x94, 0x95, 0x96, 0x98]  # not 0x91 (0x95 has every cell), not 0x97


def test_without_0x96_the_extremes_of_0x92_are_the_probes(line_name):
    src = source(f"dalysim://?name={line_name}&refuse=96&probes=3&temperature=7")
    src.open()
    reading = src.read()
    src.close()
    assert src.polled_ids == (0x90, 0x93, 0x94, 0x95, 0x92, 0x98) and src.skipped == (0x96,)
    assert reading.temperatures_c == (6.0, 7.0)  # coldest and hottest of the unit's three probes


def test_without_0x96_and_0x92_there_are_no_temperatures(line_name):
    src = source(f"dalysim://?name={line_name}&refuse=96,92")
    src.open()
    assert src.read().temperatures_c == () and src.skipped == (0x92, 0x96)
    src.close()


@pytest.mark.parametrize(
    ("refuse", "named"), [("90", r"0x90 \(pack voltage"), ("95,96", r"0x95 \(cell voltages\)")]
)
def test_a_unit_without_a_required_id_cannot_be_opened(line_name, refuse, named):
    src = source(f"dalysim://?name={line_name}&refuse={refuse}")
    with pytest.raises(SourceUnavailable, match=f"board 1 on .* does not answer {named}"):
        src.open()
    src.close()  # closing after a failed open is harmless
    assert src._line is None


def test_the_wrong_board_number_is_an_unavailable_unit(line_name):
    with pytest.raises(SourceUnavailable, match=r"board 2 .* does not answer 0x90"):
        source(f"dalysim://?name={line_name}&board=1", address=2).open()


def test_a_missing_device_is_unavailable():
    with pytest.raises(SourceUnavailable, match="cannot open /dev/ttyDALYnone"):
        source("/dev/ttyDALYnone").open()


def test_read_before_open_is_unavailable():
    with pytest.raises(SourceUnavailable, match="is not open"):
        source("dalysim://").read()


def test_impossible_content_and_a_wrong_sign_setting_are_implausible(line_name):
    src = source(f"dalysim://?name={line_name}&current=15")
    src.open()
    sim = get_line(line_name).unit(1)
    sim.inject("nonsense", count=1)
    sim.asked.clear()
    with pytest.raises(ImplausibleReply, match="SOC 150 %"):
        src.read()
    assert sim.asked == [0x90]  # the poll stops at the impossible reply, however slow the rest would be
    assert src.read().current_a == 15.0
    src.close()
    inverted = source(f"dalysim://?name={line_name}x&current=15&inverted=1")
    inverted.open()
    with pytest.raises(ImplausibleReply, match="against the BMS state 'charging'"):
        inverted.read()
    inverted.close()
    forget_line(f"{line_name}x")


def test_corrupt_replies_fail_the_poll_and_the_next_one_reads_again(line_name):
    src = source(f"dalysim://?name={line_name}", timeout=0.1)
    src.open()
    sim = get_line(line_name).unit(1)
    for fault, error in (("bad_checksum", FrameError), ("garbage", FrameError), ("silence", SourceTimeout)):
        sim.inject(fault, count=1)
        with pytest.raises(error):
            src.read()
        src.read()
    for fault in ("echo", "split", "noise"):
        sim.inject(fault)
        assert src.read().cell_count == 16
        sim.clear_faults()
    src.close()


def test_a_changed_cell_count_is_read_from_the_next_poll(line_name):
    src = source(f"dalysim://?name={line_name}&cells=16")
    src.open()
    get_line(line_name).set_cell_count(8)
    assert src.read().cell_count == 8
    src.close()


def test_a_poll_longer_than_its_share_of_the_period_stops(line_name):
    src = DalySource(DalyConfig(port=f"dalysim://?name={line_name}"), ctx(period_s=0.2))  # 9600 baud
    src.open()
    with pytest.raises(SourceTimeout, match=r"took longer than 0.15 s \(0.75 x the period\)"):
        src.read()
    src.close()


def test_the_pause_before_each_request_is_slept_on_the_injected_clock(line_name):
    clock = FakeClock()
    src = source(f"dalysim://?name={line_name}", clock=clock, bus_gap_s=0.03)
    src.open()
    clock.sleeps.clear()
    src.read()
    src.close()
    # the line's turn keeps the gap after the previous turn (open's), then one before each request
    assert clock.sleeps == [0.03] * 6


def test_two_units_on_one_line_share_one_port_and_read_their_own_values(line_name):
    url = f"dalysim://?name={line_name}&boards=1,2&cells=8"
    line = get_line(line_name, boards=[1, 2], cells=8)
    line.unit(2).set_cell_count(12)
    pack1, pack2 = source(url, "pack1", address=1), source(url, "pack2", address=2)
    pack1.open()
    pack2.open()
    assert pack1._line is pack2._line and pack1._line is not None
    handle = pack1._line.handle
    assert (pack1.read().cell_count, pack2.read().cell_count) == (8, 12)
    pack1.close()
    assert handle.is_open and pack2.read().cell_count == 12
    pack2.close()
    assert not handle.is_open


def test_instances_on_one_port_must_agree_on_the_baud_rate(line_name):
    url = f"dalysim://?name={line_name}&boards=1,2"
    pack1 = source(url, "pack1")
    pack1.open()
    with pytest.raises(SourceUnavailable, match=r"already open at 115200 baud .* same daly\.baudrate"):
        source(url, "pack2", address=2, baudrate=9600).open()
    pack1.close()


# -- over real ptys ---------------------------------------------------------------------------


@pytest.fixture
def pty_line(tmp_path) -> Iterator[tuple[SimulatedLine, PtyServer]]:
    line = SimulatedLine([SimulatedDaly(board=1, cells=16), SimulatedDaly(board=2, cells=4, current_a=-3.0)])
    server = PtyServer(line, link=str(tmp_path / "ttyDALY"), speed=0, baud=9600)
    server.start()
    yield line, server
    server.stop()


def test_two_units_on_one_pty_at_wire_speed(pty_line):
    line, server = pty_line
    pack1, pack2 = source(server.path, "pack1", address=1), source(server.path, "pack2", address=2)
    pack1.open()
    pack2.open()
    try:
        first, second = pack1.read(), pack2.read()
    finally:
        pack1.close()
        pack2.close()
    assert first.cell_voltages_v == line.unit(1).cell_voltages() and second.cell_count == 4
    assert second.current_a == -3.0


def test_the_port_is_opened_exclusively(pty_line):
    _, server = pty_line
    src = source(server.path)
    src.open()
    try:
        with pytest.raises(serial.SerialException, match="exclusively lock"):
            serial.Serial(server.path, exclusive=True)
    finally:
        src.close()
    serial.Serial(server.path, exclusive=True).close()  # free again once the source let go


def test_a_pulled_adapter_invalidates_the_line_for_every_instance(pty_line):
    line, server = pty_line
    pack1, pack2 = source(server.path, "pack1", address=1), source(server.path, "pack2", address=2)
    pack1.open()
    pack2.open()
    line.unplug()
    assert server.wait_state(plugged=False)
    with pytest.raises(SourceUnavailable):
        pack1.read()
    with pytest.raises(SourceUnavailable):
        pack2.read()  # the shared port was closed for everyone
    line.plug()
    assert server.wait_state(plugged=True)
    pack1.open()
    pack2.open()
    assert pack1.read().cell_count == 16 and pack2.read().cell_count == 4
    pack1.close()
    pack2.close()
