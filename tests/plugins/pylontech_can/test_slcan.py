"""The sink through python-can's ``slcan`` interface, over a pty with a fake CANable on the far side."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import SourceTimeout
from gateway_core.roles import PluginContext
from pylontech_can.config import PylontechConfig
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock, FakeSource, FixedPolicy, make_reading
from tests.support.slcan import SlcanAdapter as FakeSlcanAdapter

from .bytecheck import check_decode

SET = [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E]
NAMES = PluginNames("fake", "fixed", "pylontech")


@pytest.fixture
def adapter() -> Iterator[FakeSlcanAdapter]:
    fake = FakeSlcanAdapter()
    yield fake
    fake.close()


def make_sink(clock: FakeClock, adapter: FakeSlcanAdapter) -> PylontechSink:
    config = PylontechConfig(
        interface="slcan",
        channel=adapter.port,
        bus_options={"sleep_after_open": 0, "tty_baudrate": 115200},
    )
    return PylontechSink(config, PluginContext("pylontech", clock, logging.getLogger("test.slcan")))


def test_frames_arrive_every_period_and_stop_limits_when_stale(
    clock: FakeClock, adapter: FakeSlcanAdapter
) -> None:
    source = FakeSource(clock, [make_reading(clock)], default=SourceTimeout("BMS silent"))
    engine = Engine(
        source,
        FixedPolicy(),
        make_sink(clock, adapter),
        names=NAMES,
        clock=clock,
        period_s=1.0,
        stale_after_s=3.0,
    )
    engine.start()
    sets: list[dict[int, bytes]] = []
    try:
        for cycle in range(6):
            result = engine.cycle()
            assert result.published, result.problems
            arrived = adapter.wait_for(6 * (cycle + 1))
            this_cycle = arrived[6 * cycle :]
            assert [fid for fid, _ in this_cycle] == SET, cycle
            sets.append(dict(this_cycle))
            clock.advance(1.0)
    finally:
        engine.shutdown()
    assert adapter.commands[:4] == ["C", "S6", "", "O"]  # bitrate 500 kbit/s, then open
    first = check_decode(0x351, sets[0][0x351])
    assert (first["ccl_a"], first["dcl_a"]) == (50.0, 60.0) and sets[0][0x35C] == b"\xc0\x00"
    stale = sets[-2:]  # by then the only reading is more than 3 s old
    for frames in stale:
        limits = check_decode(0x351, frames[0x351])
        assert (limits["cvl_v"], limits["ccl_a"], limits["dcl_a"], limits["dvl_v"]) == (55.2, 0.0, 0.0, 50.4)
        assert frames[0x35C] == b"\x00\x00"
        assert frames[0x359][3] == 0x08
    # shutdown published stop limits once more, then closed the adapter
    everything = adapter.wait_for(6 * 7)
    assert [fid for fid, _ in everything[36:]] == SET
    final = dict(everything[36:])
    assert final[0x35C] == b"\x00\x00" and final[0x359][3] == 0  # shutdown: no error bit
    assert adapter.wait_command("C", count=2)  # once before setting the bitrate, once at shutdown
    assert adapter.commands[-1] == "C"


def test_inverter_heartbeat_over_slcan(clock: FakeClock, adapter: FakeSlcanAdapter) -> None:
    sink = make_sink(clock, adapter)
    engine = Engine(FakeSource(clock), FixedPolicy(), sink, names=NAMES, clock=clock, period_s=1.0)
    engine.start()
    try:
        assert engine.cycle().peer_seen_at_s is None
        adapter.wait_for(6)
        adapter.inject(0x305, bytes(8))
        seen = None
        for _ in range(20):  # the pty delivers asynchronously: a few cycles at most
            clock.advance(1.0)
            seen = engine.cycle().peer_seen_at_s
            if seen is not None:
                break
        assert seen is not None
        assert sink.peer_seen_at_s == seen
        assert 0x305 not in {fid for fid, _ in adapter.received()}  # never transmitted
    finally:
        engine.shutdown()


def test_an_slcan_adapter_is_opened_without_python_cans_2_s_wait_by_default() -> None:
    seen: list[dict[str, object]] = []

    class Bus:
        def __init__(self, **kwargs: object) -> None:
            seen.append(kwargs)

        def shutdown(self) -> None: ...

    def factory(**kwargs: object) -> Bus:
        return Bus(**kwargs)

    for options, expected in (({}, 0.1), ({"sleep_after_open": 2.0}, 2.0)):
        config = PylontechConfig(interface="slcan", channel="/dev/ttyACM0", bus_options=options)
        sink = PylontechSink(
            config,
            PluginContext("pylontech", FakeClock(), logging.getLogger("t")),
            bus_factory=factory,  # type: ignore[arg-type]
        )
        sink.open()
        sink.close()
        assert seen[-1]["sleep_after_open"] == expected
