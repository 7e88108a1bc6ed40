"""The sink's safety guards on python-can's virtual bus: stalls, refused readings, obedience, echoes."""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any, cast

import can
import pytest
from can.interfaces.udp_multicast.utils import pack_message, unpack_message

from gateway_core.model import Fault, LimitFlag, Limits, SentFrame
from gateway_core.roles import PluginContext
from gateway_core.simkit import Grant, SimulatedPeer
from pylontech_can.config import PylontechConfig
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock, make_reading

from .bytecheck import check_decode

BOTH = LimitFlag.CHARGE | LimitFlag.DISCHARGE
GRANT = Limits(30.0, 50.0, 55.2, 50.4, BOTH, ("policy",))


@pytest.fixture
def channel() -> str:
    return f"guard-{uuid.uuid4().hex}"


@pytest.fixture
def inverter(channel: str) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


def ctx(clock: FakeClock, period_s: float = 1.0) -> PluginContext:
    return PluginContext(
        "pylontech", clock, logging.getLogger("test.guards"), plugin="pylontech", period_s=period_s
    )


def drained(bus: can.BusABC) -> list[tuple[int, bytes]]:
    out = []
    while (message := bus.recv(0)) is not None:
        out.append((message.arbitration_id, bytes(message.data)))
    return out


class FreezingBus:
    """A virtual bus whose clock jumps ``freeze_s`` right after one frame has gone out (SIGSTOP/SIGCONT)."""

    def __init__(self, clock: FakeClock, after_id: int, freeze_s: float, **kwargs: Any) -> None:
        self.bus = can.Bus(**kwargs)
        self.clock, self.after_id, self.freeze_s = clock, after_id, freeze_s
        self.frozen = False

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self.bus.send(msg, timeout)
        if msg.arbitration_id == self.after_id and not self.frozen:
            self.frozen = True
            self.clock.advance(self.freeze_s)

    def recv(self, timeout: float | None = None) -> can.Message | None:
        return self.bus.recv(timeout)

    def shutdown(self) -> None:
        self.bus.shutdown()


def test_a_freeze_mid_set_abandons_the_old_set_and_sends_stop_limits(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    config = PylontechConfig(interface="virtual", channel=channel)
    factory = lambda **kw: cast(can.BusABC, FreezingBus(clock, 0x351, 7.0, **kw))  # noqa: E731
    sink = PylontechSink(config, ctx(clock), bus_factory=factory)
    sink.open()
    report = sink.publish(make_reading(clock), GRANT)
    sent = drained(inverter)
    assert sent[0][0] == 0x351 and check_decode(0x351, sent[0][1])["ccl_a"] == 30.0  # out before the freeze
    rest = sent[1:]
    assert [fid for fid, _ in rest] == [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E]  # the stop set, whole
    frames = dict(rest)
    assert check_decode(0x351, frames[0x351]) == {"cvl_v": 55.2, "ccl_a": 0.0, "dcl_a": 0.0, "dvl_v": 50.4}
    assert frames[0x35C] == b"\x00\x00" and frames[0x359][3] & 0x08  # no request bits; comm fail
    assert check_decode(0x356, frames[0x356])["current_a"] == 0.0
    assert all(data != b"\xc0\x00" for fid, data in sent if fid == 0x35C)  # no grant after the freeze
    assert len(report.problems) == 1 and "stalled 7.00 s" in report.problems[0]
    assert "bound 0.80 s" in report.problems[0]  # 0.8 x the 1 s period
    assert [f.arbitration_id for f in report.frames] == [fid for fid, _ in sent]
    assert clock.sleeps[-6:] == pytest.approx([0.002] * 6)  # the stop set's frames keep whole gaps
    sink.close()


def test_the_stall_bound_follows_the_period(clock: FakeClock, channel: str, inverter: can.BusABC) -> None:
    config = PylontechConfig(interface="virtual", channel=channel)
    factory = lambda **kw: cast(can.BusABC, FreezingBus(clock, 0x356, 1.5, **kw))  # noqa: E731
    slow = PylontechSink(config, ctx(clock, period_s=2.0), bus_factory=factory)  # bound 1.6 s: 1.5 s is fine
    slow.open()
    assert slow.publish(make_reading(clock), GRANT).problems == ()
    assert [d for fid, d in drained(inverter) if fid == 0x35C] == [b"\xc0\x00"]
    slow.close()
    fast = PylontechSink(config, ctx(clock, period_s=1.0), bus_factory=factory)  # bound 0.8 s
    fast.open()
    assert "stalled" in fast.publish(make_reading(clock), GRANT).problems[0]
    assert [d for fid, d in drained(inverter) if fid == 0x35C] == [b"\x00\x00"]
    fast.close()


def test_stop_limits_never_carry_a_cvl_from_limits_without_a_plausible_reading(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    sink = PylontechSink(PylontechConfig(interface="virtual", channel=channel, frame_gap_s=0.0), ctx(clock))
    sink.open()
    sink.publish(make_reading(clock), GRANT)  # 16 cells, CVL 55.2 from the policy
    # a 32-cell reply was refused: whatever limits come with no reading, their 110.4 V is not taken up
    sink.publish(None, Limits(60.0, 60.0, 110.4, 100.8, BOTH, ("decided on the refused reading",)))
    sink.publish(None, Limits.stop("implausible", Fault.IMPLAUSIBLE_READING))
    limits = [check_decode(0x351, d) for fid, d in drained(inverter) if fid == 0x351]
    assert [(x["cvl_v"], x["dvl_v"]) for x in limits] == [(55.2, 50.4)] * 3
    assert [(x["ccl_a"], x["dcl_a"]) for x in limits[1:]] == [(0.0, 0.0)] * 2
    sink.close()


def test_the_report_lists_every_frame_sent_in_order(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    sink = PylontechSink(PylontechConfig(interface="virtual", channel=channel, profile="victron"), ctx(clock))
    sink.open()
    assert sink.publish(None, Limits.stop("no reading yet", Fault.NO_READING)).frames == ()
    report = sink.publish(make_reading(clock, capacity_ah=280.0), GRANT)
    on_bus = drained(inverter)
    assert report.frames == tuple(SentFrame(fid, data, False) for fid, data in on_bus)
    assert report.frames_sent == len(on_bus) == 15
    sink.close()


# -- is the inverter obeying? ---------------------------------------------------------------


def test_the_pack_drawing_more_than_the_dcl_raises_the_problem_until_it_is_back_within(
    clock: FakeClock, channel: str, inverter: can.BusABC, caplog: pytest.LogCaptureFixture
) -> None:
    config = PylontechConfig(
        interface="virtual", channel=channel, obey_margin_a=5.0, obey_after_s=10.0, frame_gap_s=0.0
    )
    sink = PylontechSink(config, ctx(clock))
    sink.open()
    reports = []
    currents = [-40.0] * 3 + [-62.0] * 15 + [-48.0] * 3  # DCL 50 A: 12 A over for 15 cycles
    with caplog.at_level(logging.INFO, logger="test.guards"):
        for amps in currents:
            reports.append(sink.publish(make_reading(clock, current_a=amps), GRANT))
            clock.advance(1.0)
    ignored = [r.limits_ignored for r in reports]
    assert ignored[:3] == [False] * 3
    assert ignored[3:14] == [False] * 11  # 10 s of grace (the inverter may be reacting)
    assert ignored[14:18] == [True] * 4  # reported every cycle while it lasts
    assert ignored[18:] == [False] * 3  # cleared once back within the limits
    problems = [r.problems for r in reports if r.problems]
    assert len(problems) == 4 and all(len(p) == 1 for p in problems)
    assert problems[0][0] == (
        "inverter ignores limits: discharging at 62.0 A with a 50 A discharge limit for 11 s"
    )
    messages = [r.getMessage() for r in caplog.records]
    assert sum("inverter ignores limits" in m for m in messages) == 1  # logged once per episode
    assert sum("follows the limits again" in m for m in messages) == 1
    sink.close()


def test_charging_past_a_zero_charge_limit_is_ignoring_too(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    config = PylontechConfig(interface="virtual", channel=channel, obey_margin_a=2.0, obey_after_s=5.0)
    sink = PylontechSink(config, ctx(clock))
    sink.open()
    full = Limits(0.0, 50.0, 55.2, 50.4, LimitFlag.DISCHARGE, ("full",))
    last = None
    for _ in range(8):
        last = sink.publish(make_reading(clock, current_a=10.0), full)
        clock.advance(1.0)
    assert (
        last is not None
        and last.limits_ignored
        and "charging at 10.0 A with a 0 A charge limit" in last.problems[0]
    )
    sink.publish(None, Limits.stop("stale", Fault.STALE_READING))  # nothing to judge by: no verdict
    assert not sink.publish(None, Limits.stop("stale", Fault.STALE_READING)).limits_ignored
    sink.close()


# -- udp_multicast hears its own frames ---------------------------------------------------------


class EchoingBus:
    """What python-can's udp_multicast does on one host: every sent frame comes back, msgpack'd."""

    def __init__(self, **kwargs: Any) -> None:
        self.queue: deque[bytes] = deque()
        self.foreign: deque[can.Message] = deque()

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self.queue.append(pack_message(msg))

    def recv(self, timeout: float | None = None) -> can.Message | None:
        if self.foreign:
            return self.foreign.popleft()
        return unpack_message(self.queue.popleft(), check=True) if self.queue else None

    def shutdown(self) -> None:
        pass


def test_udp_multicast_recognises_its_own_frames_and_still_warns_about_others(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    buses: list[EchoingBus] = []

    def factory(**kwargs: Any) -> can.BusABC:
        buses.append(EchoingBus(**kwargs))
        return cast(can.BusABC, buses[-1])

    config = PylontechConfig(interface="udp_multicast", channel="239.74.163.2")
    sink = PylontechSink(config, ctx(clock), bus_factory=factory)
    sink.open()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            sink.publish(make_reading(clock), GRANT)
        assert not any("another device" in r.getMessage() for r in caplog.records)
        buses[0].foreign.append(can.Message(arbitration_id=0x351, data=bytes(8), is_extended_id=False))
        sink.publish(make_reading(clock), GRANT)
    assert sum("another device sends 0x351" in r.getMessage() for r in caplog.records) == 1
    sink.close()


# -- resources and the simulated inverter ---------------------------------------------------


def test_the_sink_names_the_bus_it_drives(clock: FakeClock) -> None:
    def sink(**changes: Any) -> PylontechSink:
        return PylontechSink(PylontechConfig(**changes), ctx(clock))

    assert sink().resources() == ("can:socketcan:can0",)
    assert sink(interface="slcan", channel="/dev/ttyACM0").resources() == ("can:slcan:/dev/ttyACM0",)
    assert sink(interface="virtual", channel="x").resources() == ()  # exists in this process only


def test_the_registered_simulator_decodes_what_the_sink_grants(clock: FakeClock) -> None:
    from gateway_core.plugins import collect_registrations, make_plugin_manager
    from gateway_core.settings import build_section

    reg = collect_registrations(make_plugin_manager()).entries["pylontech"]
    assert reg.simulator is not None
    peer = reg.simulator()
    try:
        assert isinstance(peer, SimulatedPeer)
        settings = peer.sink_settings()
        assert settings["interface"] == "virtual" and settings["channel"]
        config = build_section(PylontechConfig, "pylontech", settings)
        sink = PylontechSink(config, ctx(clock))
        sink.open()
        sink.publish(make_reading(clock), GRANT)
        sink.publish(None, Limits.stop("stale", Fault.STALE_READING))
        sink.close()
        assert peer.grants() == [Grant(30.0, 50.0, 55.2, 50.4), Grant(0.0, 0.0, 55.2, 50.4)]
        assert peer.grants() == []  # drained
    finally:
        peer.close()
        peer.close()
    assert peer.grants() == []


def test_the_dbc_files_are_read_when_the_sink_is_built_not_inside_the_timed_publish(
    clock: FakeClock,
) -> None:
    from pylontech_can.layout import frame_layouts

    frame_layouts.cache_clear()
    PylontechSink(PylontechConfig(interface="virtual", channel="x", profile="luxpower"), ctx(clock))
    assert frame_layouts.cache_info().currsize == 2  # pylontech.dbc and the luxpower variant, read already
    hits = frame_layouts.cache_info().hits
    PylontechSink(PylontechConfig(interface="virtual", channel="y", profile="luxpower"), ctx(clock))
    assert frame_layouts.cache_info().hits > hits  # and shared, not read again


def test_a_set_abandoned_before_its_first_frame_sends_the_stop_set_a_whole_gap_apart(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    sink = PylontechSink(PylontechConfig(interface="virtual", channel=channel), ctx(clock))
    sink.open()
    held = make_reading(clock)
    clock.advance(7.0)  # the reading waits too long: the set is abandoned before its first frame
    report = sink.publish(held, GRANT)
    assert "the reading waited 7.00 s" in report.problems[0] and report.frames_sent == 6
    assert clock.sleeps == pytest.approx([0.002] * 5)
    sink.close()


def test_a_fresh_reading_held_up_before_the_publish_is_not_sent_but_a_kept_one_is(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    sink = PylontechSink(PylontechConfig(interface="virtual", channel=channel, frame_gap_s=0.0), ctx(clock))
    sink.open()
    kept = make_reading(clock)
    sink.publish(kept, GRANT)
    clock.advance(1.0)
    held = make_reading(clock)  # this cycle's reading, then the process stops for 7 s before the publish
    clock.advance(7.0)
    report = sink.publish(held, GRANT)
    assert "the reading waited 7.00 s for its frames (bound 1.50 s)" in report.problems[0]
    assert [d for fid, d in drained(inverter) if fid == 0x35C] == [b"\xc0\x00", b"\x00\x00"]
    clock.advance(1.0)
    # the engine's last good reading, kept through a missed reply (older than the previous publish),
    # is the engine's to judge against stale_after: the sink sends it
    assert sink.publish(held, GRANT).problems == ()
    assert [d for fid, d in drained(inverter) if fid == 0x35C] == [b"\xc0\x00"]
    sink.close()
