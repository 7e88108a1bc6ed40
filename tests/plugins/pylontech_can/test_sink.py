"""The sink on python-can's virtual bus, with the real engine: frames, 0x305, faults, recovery."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any, cast

import can
import pytest

from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import ConfigError, SinkUnavailable, SourceTimeout
from gateway_core.model import Fault, Limits
from gateway_core.roles import InverterSink, PluginContext
from pylontech_can.config import PylontechConfig
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock, FakeSource, FixedPolicy, make_reading

from .bytecheck import check_decode

NAMES = PluginNames("fake", "fixed", "pylontech")
SET = [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E]


@pytest.fixture
def channel() -> str:
    return f"pylontech-{uuid.uuid4().hex}"


@pytest.fixture
def inverter(channel: str) -> Iterator[can.BusABC]:
    """The other end of the virtual bus: what the inverter receives, and where it sends 0x305."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


def make_sink(clock: FakeClock, channel: str, **changes: Any) -> PylontechSink:
    config = PylontechConfig(interface="virtual", channel=channel, **changes)
    return PylontechSink(config, PluginContext("pylontech", clock, logging.getLogger("test.pylontech")))


def received(bus: can.BusABC) -> list[can.Message]:
    out = []
    while (message := bus.recv(0)) is not None:
        out.append(message)
    return out


def make_engine(clock: FakeClock, source: FakeSource, sink: InverterSink) -> Engine:
    engine = Engine(source, FixedPolicy(), sink, names=NAMES, clock=clock, period_s=1.0, stale_after_s=5.0)
    engine.start()
    return engine


def test_sink_satisfies_the_role_and_closes_idempotently(clock: FakeClock, channel: str) -> None:
    sink = make_sink(clock, channel)
    assert isinstance(sink, InverterSink)
    sink.close()
    sink.open()
    sink.close()
    sink.close()
    with pytest.raises(SinkUnavailable, match="not open"):
        sink.publish(None, Limits.stop("x", Fault.NO_READING))


def test_engine_sends_the_whole_set_every_cycle(clock: FakeClock, channel: str, inverter: can.BusABC) -> None:
    engine = make_engine(clock, FakeSource(clock), make_sink(clock, channel))
    for cycle in range(3):
        result = engine.cycle()
        assert result.published and result.problems == ()
        messages = received(inverter)
        assert [m.arbitration_id for m in messages] == SET, cycle
        assert not any(m.is_extended_id for m in messages)
        frames = {m.arbitration_id: bytes(m.data) for m in messages}
        assert check_decode(0x351, frames[0x351]) == {
            "cvl_v": 55.2,
            "ccl_a": 50.0,
            "dcl_a": 60.0,
            "dvl_v": 50.4,
        }
        assert frames[0x35C] == b"\xc0\x00"
        assert check_decode(0x356, frames[0x356]) == {
            "voltage_v": 52.8,
            "current_a": 0.0,
            "temperature_c": 20.5,
        }
        clock.advance(1.0)
    engine.shutdown()
    last = {m.arbitration_id: bytes(m.data) for m in received(inverter)}
    assert last[0x35C] == b"\x00\x00" and last[0x351][2:6] == bytes(4)


def test_stale_source_sends_stop_limits_on_schedule(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    source = FakeSource(clock, [make_reading(clock)], default=SourceTimeout("no reply"))
    engine = make_engine(clock, source, make_sink(clock, channel, frame_gap_s=0.0))
    sets = []
    for _ in range(8):
        engine.cycle()
        sets.append({m.arbitration_id: bytes(m.data) for m in received(inverter)})
        clock.advance(1.0)
    assert all(set(s) == set(SET) for s in sets)  # sent every cycle, measurements repeated
    assert sets[0][0x35C] == b"\xc0\x00"
    stale = [s for s in sets if s[0x35C] == b"\x00\x00"]
    assert len(stale) == 2  # cycles 7 and 8: the reading is older than 5 s
    for frames in stale:
        assert frames[0x351][2:6] == bytes(4)
        assert frames[0x359][3] == 0x08  # internal communication fail
        assert check_decode(0x356, frames[0x356])["current_a"] == 0.0
    engine.shutdown()


def test_no_reading_ever_sends_only_stop_frames(clock: FakeClock, channel: str, inverter: can.BusABC) -> None:
    engine = make_engine(clock, FakeSource(clock, default=SourceTimeout("silent")), make_sink(clock, channel))
    engine.cycle()
    frames = {m.arbitration_id: bytes(m.data) for m in received(inverter)}
    assert list(frames) == [0x351, 0x359, 0x35C, 0x35E]
    assert frames[0x35C] == b"\x00\x00" and frames[0x359][3] == 0x08
    engine.shutdown()


class LateWakingClock(FakeClock):
    """Each sleep wakes ``late_s[i]`` later than asked (0 past the end), as on a busy machine."""

    def __init__(self, late_s: list[float]) -> None:
        super().__init__()
        self.late_s = late_s

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.sleeps) <= len(self.late_s):
            self.advance(self.late_s[len(self.sleeps) - 1])


@pytest.mark.parametrize(
    ("late_s", "sleeps", "set_s"),
    [
        # 1 ms late every time: each later wait is shortened by the 1 ms the previous overslept
        ([0.001] * 5, [0.004, 0.003, 0.003, 0.003, 0.003], 5 * 0.004 + 0.001),  # not 5 x 5 ms
        # 10 ms late once: the slots of frames 3 to 6 have passed; they follow 2 ms apart, not at once
        ([0.010], [0.004, 0.002, 0.002, 0.002, 0.002], 0.004 + 0.010 + 4 * 0.002),
    ],
)
def test_frame_slots_are_fixed_from_the_first_frame_and_never_closer_than_half_a_gap(
    channel: str, inverter: can.BusABC, late_s: list[float], sleeps: list[float], set_s: float
) -> None:
    clock = LateWakingClock(late_s)
    sink = make_sink(clock, channel, frame_gap_s=0.004)
    sink.open()
    first = clock.now()
    sink.publish(make_reading(clock), FixedPolicy().limits)
    assert len(received(inverter)) == 6
    assert clock.sleeps == pytest.approx(sleeps)
    assert clock.now() - first == pytest.approx(set_s)
    sink.close()


def test_frames_are_spaced_on_the_injected_clock(
    clock: FakeClock, channel: str, inverter: can.BusABC
) -> None:
    sink = make_sink(clock, channel, frame_gap_s=0.004)
    sink.open()
    sink.publish(make_reading(clock), FixedPolicy().limits)
    assert clock.sleeps == pytest.approx([0.004] * 5)
    sink.close()
    clock.sleeps.clear()
    sink = make_sink(clock, channel, frame_gap_s=0.0)
    sink.open()
    sink.publish(make_reading(clock), FixedPolicy().limits)
    assert clock.sleeps == []
    sink.close()


def test_inverter_heartbeat_is_reported_and_silence_logged(
    clock: FakeClock, channel: str, inverter: can.BusABC, caplog: pytest.LogCaptureFixture
) -> None:
    sink = make_sink(clock, channel, frame_gap_s=0.0)
    engine = make_engine(clock, FakeSource(clock), sink)
    assert engine.cycle().peer_seen_at_s is None  # works without 0x305
    clock.advance(1.0)
    heard_at = clock.now()
    inverter.send(can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=False))
    with caplog.at_level(logging.INFO):
        result = engine.cycle()
        assert result.peer_seen_at_s == heard_at
        for _ in range(12):
            clock.advance(1.0)
            assert engine.cycle().peer_seen_at_s == heard_at
        inverter.send(can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=False))
        clock.advance(1.0)
        assert engine.cycle().peer_seen_at_s == clock.now()
    messages = [r.getMessage() for r in caplog.records if r.name == "test.pylontech"]
    assert sum("inverter heard (0x305" in m for m in messages) == 1
    assert sum("inverter silent" in m for m in messages) == 1
    assert sum("inverter heard again" in m for m in messages) == 1
    engine.shutdown()


def test_another_battery_on_the_bus_is_logged_once(
    clock: FakeClock, channel: str, inverter: can.BusABC, caplog: pytest.LogCaptureFixture
) -> None:
    sink = make_sink(clock, channel)
    sink.open()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            inverter.send(can.Message(arbitration_id=0x351, data=bytes(8), is_extended_id=False))
            sink.publish(None, Limits.stop("x", Fault.NO_READING))
    assert sum("another device sends 0x351" in r.getMessage() for r in caplog.records) == 1
    sink.close()


class FlakyBus:
    """A virtual bus whose sends fail while ``failing`` is set (as a full buffer or bus-off would)."""

    instances: list[FlakyBus] = []  # noqa: RUF012

    def __init__(self, failing: list[BaseException], **kwargs: Any) -> None:
        self.bus = can.Bus(**kwargs)
        self.failing = failing
        self.periodic_calls = 0
        FlakyBus.instances.append(self)

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        if self.failing:
            raise self.failing.pop(0)
        self.bus.send(msg, timeout)

    def send_periodic(self, *args: Any, **kwargs: Any) -> None:
        self.periodic_calls += 1
        raise AssertionError("the sink must not use a periodic task")

    def recv(self, timeout: float | None = None) -> can.Message | None:
        return self.bus.recv(timeout)

    def shutdown(self) -> None:
        self.bus.shutdown()


@pytest.mark.parametrize(
    "error",
    [
        can.CanOperationError("Transmit buffer full"),
        can.CanOperationError("Network is down (bus-off)"),
        OSError(105, "No buffer space available"),
    ],
)
def test_send_errors_are_recovered_without_stopping_the_engine(
    clock: FakeClock,
    channel: str,
    inverter: can.BusABC,
    error: BaseException,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing: list[BaseException] = []
    config = PylontechConfig(interface="virtual", channel=channel)
    ctx = PluginContext("pylontech", clock, logging.getLogger("test.pylontech"))
    sink = PylontechSink(config, ctx, bus_factory=lambda **kw: cast(can.BusABC, FlakyBus(failing, **kw)))
    engine = make_engine(clock, FakeSource(clock), sink)
    assert engine.cycle().published
    received(inverter)
    failing.extend([error, error, error])
    outcomes = []
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        for _ in range(12):
            clock.advance(1.0)
            result = engine.cycle()
            outcomes.append(result.published)
    # three failed sends (retries after 1 and 2 s of backoff), then frames flow again
    assert failing == []
    assert outcomes == [False] * 7 + [True] * 5
    assert [m.arbitration_id for m in received(inverter)][-6:] == SET
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) == 1 and "sending 0x351 failed" in lost[0].getMessage()
    assert sum("is back" in r.getMessage() for r in caplog.records) == 1
    assert all(b.periodic_calls == 0 for b in FlakyBus.instances)
    engine.shutdown()


def test_a_closed_bus_is_reopened(clock: FakeClock, channel: str, inverter: can.BusABC) -> None:
    sink = make_sink(clock, channel)
    engine = make_engine(clock, FakeSource(clock), sink)
    assert engine.cycle().published
    sink._bus.shutdown()  # type: ignore[union-attr]  # the adapter went away under us
    clock.advance(1.0)
    result = engine.cycle()
    assert not result.published and "closed bus" in result.problems[0].message
    clock.advance(1.0)
    received(inverter)
    assert engine.cycle().published
    assert [m.arbitration_id for m in received(inverter)] == SET
    engine.shutdown()


class BusOffBus(FlakyBus):
    def recv(self, timeout: float | None = None) -> can.Message | None:
        return can.Message(arbitration_id=0x40, is_error_frame=True, dlc=8)


def test_bus_off_error_frame_makes_the_sink_reopen(clock: FakeClock, channel: str) -> None:
    config = PylontechConfig(interface="virtual", channel=channel)
    ctx = PluginContext("pylontech", clock, logging.getLogger("test.pylontech"))
    sink = PylontechSink(config, ctx, bus_factory=lambda **kw: cast(can.BusABC, BusOffBus([], **kw)))
    sink.open()
    with pytest.raises(SinkUnavailable, match="bus-off"):
        sink.publish(None, Limits.stop("x", Fault.NO_READING))
    sink.close()


def test_open_failure_is_sink_unavailable(clock: FakeClock, tmp_path: Any) -> None:
    config = PylontechConfig(interface="slcan", channel=str(tmp_path / "no-such-adapter"))
    sink = PylontechSink(config, PluginContext("pylontech", clock, logging.getLogger("t")))
    with pytest.raises(SinkUnavailable, match="cannot open CAN bus slcan channel"):
        sink.open()
    sink.close()


def test_unknown_interface_is_a_config_error(clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match=r"not a python-can interface; available: .*socketcan"):
        PylontechSink(PylontechConfig(interface="sockcan"), PluginContext("p", clock, logging.getLogger("t")))


def test_bus_options_are_passed_through(clock: FakeClock, channel: str) -> None:
    seen: dict[str, Any] = {}

    def factory(**kwargs: Any) -> can.BusABC:
        seen.update(kwargs)
        return can.Bus(interface="virtual", channel=channel)

    config = PylontechConfig(
        interface="virtual",
        channel=channel,
        bitrate=250000,
        bus_options={"receive_own_messages": False, "x": 1},
    )
    sink = PylontechSink(config, PluginContext("p", clock, logging.getLogger("t")), bus_factory=factory)
    sink.open()
    sink.close()
    assert seen == {
        "interface": "virtual",
        "channel": channel,
        "bitrate": 250000,
        "receive_own_messages": False,
        "x": 1,
    }
