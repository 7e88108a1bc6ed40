"""One exchange on a scripted port: flush first, take only our board's reply to this id, refuse early frames.

The port and the wire clock are test doubles with a manual time line, so "a frame already in flight
when the request was written" is exact, not a race.
"""

from __future__ import annotations

import pytest

from daly.encode import DalyState, reply_frames
from daly.exchange import Exchange, exchange
from daly.protocol import FrameAssembler, build_reply, build_request
from gateway_core.errors import FrameError, SourceTimeout
from gateway_core.ptysim import wire_time_s
from tests.fakes import FakeClock

STATE = DalyState((3.3,) * 8, (20.0,), 26.4, 0.0, 55.0)
OLD = DalyState((3.1,) * 8, (20.0,), 24.8, 0.0, 11.0)
FRAME_S = wire_time_s(26, 9600)  # a request and one reply frame


class WireTime:
    """Manual seconds, moved only by the scripted port's reads."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class ScriptedPort:
    """Delivers, after each request, the bytes scripted for its data id at their delays."""

    timeout = 0.05

    def __init__(self, wire: WireTime, script: dict[int, list[tuple[float, bytes]]]) -> None:
        self.wire = wire
        self.script = script
        self.pending: list[tuple[float, bytes]] = []
        self.flushes = 0
        self.writes: list[bytes] = []

    def in_flight(self, delay_s: float, data: bytes) -> None:
        self.pending.append((self.wire.t + delay_s, data))

    def reset_input_buffer(self) -> None:
        self.flushes += 1
        self.pending = [(at, data) for at, data in self.pending if at > self.wire.t]

    def write(self, data: bytes) -> None:
        assert self.flushes == len(self.writes) + 1, "the input is flushed before every request"
        self.writes.append(data)
        for delay, chunk in self.script.get(data[2], []):
            self.in_flight(delay, chunk)

    @property
    def in_waiting(self) -> int:
        return sum(len(d) for at, d in self.pending if at <= self.wire.t)

    def read(self, size: int = 1) -> bytes:
        """Like pyserial with a timeout: returns at the first byte due, or empty after ``timeout``."""
        due = min((at for at, _ in self.pending), default=None)
        if due is None or due > self.wire.t + self.timeout:
            self.wire.t += self.timeout
            return b""
        self.wire.t = max(self.wire.t, due)
        ready = [d for at, d in self.pending if at <= self.wire.t]
        self.pending = [(at, d) for at, d in self.pending if at > self.wire.t]
        return b"".join(ready)


def run(port: ScriptedPort, wire: WireTime, data_id: int, wanted: int = 1, board: int = 1):
    clock = FakeClock()
    ex = Exchange(port, board, 9600, clock, wire, "scripted")
    return exchange(ex, FrameAssembler(), data_id, wanted, clock.now() + 0.3)


def test_a_frame_already_in_flight_when_the_request_goes_out_is_not_the_reply():
    wire = WireTime()
    port = ScriptedPort(wire, {0x90: [(FRAME_S * 1.05, reply_frames(STATE, 0x90)[0])]})
    port.in_flight(0.001, reply_frames(OLD, 0x90)[0])  # the late reply to the previous poll's 0x90
    (frame,) = run(port, wire, 0x90)
    assert frame.data[6:8] == (550).to_bytes(2, "big")  # SOC 55 %, not the stale 11 %


def test_every_frame_of_a_multi_frame_reply_keeps_its_own_wire_time():
    wire = WireTime()
    cells = reply_frames(STATE, 0x95)
    script = [(wire_time_s(13 * (k + 2), 9600) * 1.01, frame) for k, frame in enumerate(cells)]
    port = ScriptedPort(wire, {0x95: script})
    assert [f.data[0] for f in run(port, wire, 0x95, wanted=3)] == [1, 2, 3]


def test_a_complete_reply_faster_than_the_wire_is_refused_as_a_late_one():
    wire = WireTime()
    port = ScriptedPort(wire, {0x90: [(0.001, reply_frames(STATE, 0x90)[0])]})
    with pytest.raises(SourceTimeout, match="only late replies to earlier requests"):
        run(port, wire, 0x90)


def test_echoes_other_ids_and_other_boards_are_skipped():
    wire = WireTime()
    script = [
        (FRAME_S, build_request(0x90)),
        (FRAME_S * 1.1, reply_frames(STATE, 0x93)[0]),
        (FRAME_S * 1.2, build_reply(0x90, reply_frames(OLD, 0x90)[0][4:12], board=2)),
        (FRAME_S * 2.2, reply_frames(STATE, 0x90)[0]),
    ]
    port = ScriptedPort(wire, {0x90: script})
    (frame,) = run(port, wire, 0x90)
    assert frame.board == 1 and frame.data_id == 0x90 and frame.data[6:8] == (550).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("script", "error", "match"),
    [
        ([], SourceTimeout, r"no reply to 0x90 from board 1 \(scripted"),
        ([(FRAME_S, build_request(0x90))], SourceTimeout, "only our request came back"),
        ([(FRAME_S, build_reply(0x90, bytes(8), board=2))], SourceTimeout, "only other boards answered"),
        ([(FRAME_S, b"\x01\x02\x03" * 9)], FrameError, "no valid reply to 0x90.*garbage"),
        ([(FRAME_S, reply_frames(STATE, 0x90)[0][:-1] + b"\x00")], FrameError, "checksum mismatch"),
        ([(FRAME_S, reply_frames(STATE, 0x90)[0][:7])], SourceTimeout, "incomplete reply.*got 7 of 13"),
    ],
)
def test_each_way_of_not_getting_a_reply_says_why(script, error, match):
    wire = WireTime()
    port = ScriptedPort(wire, {0x90: script})
    with pytest.raises(error, match=match):
        run(port, wire, 0x90)


def test_a_multi_frame_reply_that_stops_short_says_how_far_it_got():
    wire = WireTime()
    frames = reply_frames(STATE, 0x95)
    port = ScriptedPort(
        wire, {0x95: [(wire_time_s(13 * (k + 2), 9600) * 1.01, f) for k, f in enumerate(frames[:2])]}
    )
    with pytest.raises(SourceTimeout, match="2 of 3 frames"):
        run(port, wire, 0x95, wanted=3)
