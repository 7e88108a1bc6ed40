"""One poll against a scripted port: echo, padding, ACK, late replies, foreign ACKs, missing ACKs."""

from __future__ import annotations

from collections import deque

import pytest

from gateway_core.errors import FrameError, SourceTimeout
from jk_pb.exchange import LATE_SHARE, NoReply, Reply, poll
from jk_pb.modbus import build_ack, build_request
from jk_pb.records import CELL_INFO, SETTINGS
from jk_pb.stream import StreamParser
from tests.fakes import FakeClock

from .helpers import record

BAUD = 115200
CELLS = record("cell_32s_rs485_pb_addr3")
WIRE_S = (11 + 300) * 10 / BAUD


class ScriptedPort:
    """Answers every write with ``script``: (seconds after the write, bytes) steps, on a fake clock."""

    timeout = 0.02

    def __init__(self, clock: FakeClock, script: list[tuple[float, bytes]]) -> None:
        self.clock = clock
        self.script = script
        self.pending: deque[tuple[float, bytes]] = deque()
        self.written: list[bytes] = []
        self.flushes = 0

    def reset_input_buffer(self) -> None:
        self.flushes += 1

    def write(self, data: bytes) -> int:
        self.written.append(data)
        now = self.clock.now()
        self.pending.extend((now + at, chunk) for at, chunk in self.script)
        return len(data)

    @property
    def in_waiting(self) -> int:
        return 0

    def read(self, size: int = 1) -> bytes:
        if not self.pending:
            self.clock.advance(self.timeout)
            return b""
        at, chunk = self.pending.popleft()
        if at > self.clock.now():
            self.clock.advance(at - self.clock.now())
        return chunk


def run(
    script: list[tuple[float, bytes]], *, address: int = 3, frame_type: int = CELL_INFO, timeout: float = 0.3
) -> tuple[Reply, ScriptedPort]:
    clock = FakeClock()
    port = ScriptedPort(clock, script)
    reply = poll(
        port, address=address, frame_type=frame_type, clock=clock, timeout_s=timeout, baud=BAUD,
        parser=StreamParser(), where="test",
    )  # fmt: skip
    return reply, port


def test_echo_record_padding_and_ack_give_the_record_with_its_ack():
    request = build_request(3, CELL_INFO)
    reply, port = run([(0.001, request), (WIRE_S + 0.01, CELLS + b"\x00" + build_ack(3, 0x1620) + b"\x00")])
    assert reply.record.raw == CELLS
    assert reply.ack is not None and reply.ack.address == 3
    assert reply.notes == ()
    assert port.written == [request] and port.flushes == 1


def test_a_record_faster_than_its_wire_time_is_a_late_reply_and_is_dropped():
    late = (LATE_SHARE * WIRE_S) / 2
    with pytest.raises(FrameError, match="late reply"):
        run([(late, CELLS + build_ack(3, 0x1620))])


def test_the_real_reply_after_a_late_one_is_taken():
    script = [(0.002, CELLS + build_ack(3, 0x1620)), (WIRE_S + 0.02, CELLS + build_ack(3, 0x1620))]
    reply, _ = run(script)
    assert reply.ack is not None
    assert any("late reply" in note for note in reply.notes)


def test_a_record_followed_by_another_address_s_ack_is_not_ours():
    with pytest.raises(FrameError, match="answered by address 2"):
        run([(WIRE_S + 0.01, CELLS + b"\x00" + build_ack(2, 0x1620))])


def test_a_record_without_an_ack_is_taken_and_noted():
    reply, _ = run([(WIRE_S + 0.01, CELLS)])
    assert reply.ack is None
    assert reply.notes == ("no ACK followed the record",)


def test_a_record_of_the_wrong_kind_is_dropped():
    with pytest.raises(FrameError, match="a settings record, not cell_info"):
        run([(WIRE_S + 0.01, record("settings_rs485_pb_addr3") + build_ack(3, 0x161E))])
    reply, _ = run(
        [(WIRE_S + 0.01, record("settings_rs485_pb_addr3") + build_ack(3, 0x161E))], frame_type=SETTINGS
    )
    assert reply.record.kind == "settings"


def test_silence_is_no_reply_and_only_an_echo_says_so():
    with pytest.raises(NoReply, match=r"no reply \(test"):
        run([])
    with pytest.raises(NoReply, match="only our request came back"):
        run([(0.001, build_request(3, CELL_INFO))])


def test_a_truncated_reply_is_a_timeout_a_corrupt_one_a_frame_error():
    with pytest.raises(SourceTimeout, match="incomplete reply") as info:
        run([(WIRE_S, CELLS[:150])])
    assert not isinstance(info.value, NoReply)
    bad = CELLS[:299] + bytes((CELLS[299] ^ 1,))
    with pytest.raises(FrameError, match="sum mismatch"):
        run([(WIRE_S + 0.01, bad + build_ack(3, 0x1620))])


def test_another_master_on_the_line_is_noted():
    with pytest.raises(FrameError, match="another master"):
        run([(0.05, build_request(7, CELL_INFO))])
