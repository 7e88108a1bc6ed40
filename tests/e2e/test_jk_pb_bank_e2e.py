"""Three JK-PB packs on ONE simulated RS485 line (one pty) as a bank -> engine -> Pylontech on a virtual bus.

The packs are three ``[packN] plugin = "jk_pb"`` instances naming the same port; they share one open
port and take turns. Frames are decoded with struct (independently of the sink's DBC) and compared
with what the packs report. One pack drops off the line; one pack hangs (answers too slowly).
"""

from __future__ import annotations

import itertools
import struct
import time
from pathlib import Path
from typing import Any

import can
import pytest

from gateway_core.plugins import make_plugin_manager
from gateway_core.ptysim import PtyServer
from gateway_core.runner import build_gateway
from gateway_core.sdnotify import SdNotifier
from jk_pb.simulator import SimulatedLine

PERIOD = 0.5
_channels = itertools.count(1)


def decode_351(data: bytes) -> tuple[float, float, float, float]:
    cvl, ccl, dcl, dvl = struct.unpack("<HhhH", data[:8])
    return cvl / 10, ccl / 10, dcl / 10, dvl / 10


def decode_356(data: bytes) -> tuple[float, float]:
    volts, amps, _ = struct.unpack("<hhh", data[:6])
    return volts / 100, amps / 10


class Bank:
    def __init__(self, extra: list[str], period: float = PERIOD) -> None:
        self.period = period
        self.line = SimulatedLine((1, 2, 3), cells=16, soc_pct=60, trickle_byte_s=0.01)
        for address, amps in ((1, 10.0), (2, 6.0), (3, 4.0)):
            self.line.pack(address).set_current(amps)
        self.server = PtyServer(self.line, speed=0, baud=115200)
        port = self.server.start()
        self.channel = f"jkpb-bank-{next(_channels)}"
        self.bus = can.Bus(interface="virtual", channel=self.channel, receive_own_messages=False)
        packs = [
            item
            for n in (1, 2, 3)
            for item in (
                f'pack{n}.plugin="jk_pb"', f'pack{n}.port="{port}"', f"pack{n}.address={n}",
                f"pack{n}.bus_gap_s=0.03", f"pack{n}.timeout=0.1",
            )
        ]  # fmt: skip
        overrides = [
            'gateway.sources=["pack1", "pack2", "pack3"]',
            'gateway.sink="pylontech"',
            f"gateway.period={period}",
            "gateway.stale_after=1.5",
            *packs,
            'pylontech.interface="virtual"',
            f'pylontech.channel="{self.channel}"',
            "pylontech.frame_gap_s=0",
            *extra,
        ]
        self.frames: list[can.Message] = []
        self.results: list[Any] = []
        self.gateway = build_gateway(
            make_plugin_manager(),
            config_path=Path("/dev/null"),
            overrides=overrides,
            sd_notify=SdNotifier(""),
        )
        self.gateway.engine.start()

    def run(self, cycles: int) -> None:
        for _ in range(cycles):
            started = time.monotonic()
            self.results.append(self.gateway.engine.cycle())
            while (msg := self.bus.recv(0)) is not None:
                self.frames.append(msg)
            time.sleep(max(0.0, self.period - (time.monotonic() - started)))

    def last(self, arbitration_id: int) -> bytes:
        return bytes(next(m.data for m in reversed(self.frames) if m.arbitration_id == arbitration_id))

    def close(self) -> None:
        self.gateway.engine.shutdown()
        if self.gateway.claims is not None:
            self.gateway.claims.release()
        self.bus.shutdown()
        self.server.stop()


@pytest.fixture
def bank():
    made: list[Bank] = []

    def make(extra: list[str] | None = None, period: float = PERIOD) -> Bank:
        made.append(Bank(extra or [], period))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_three_packs_on_one_line_reach_the_bus_as_one_bank(bank):
    rig = bank()
    rig.run(6)
    result = rig.results[-1]
    assert result.limits.fault is None, result.limits.reasons
    assert [p.name for p in result.packs] == ["pack1", "pack2", "pack3"] and all(
        p.online for p in result.packs
    )
    readings = [p.reading for p in result.packs]
    for address, reading in zip((1, 2, 3), readings, strict=True):  # each pack answered for itself
        assert reading.cell_voltages_v == rig.line.pack(address).cell_info().cell_voltages_v
        assert reading.bms_charge_current_limit_a == 100.0  # from its settings record
    volts, amps = decode_356(rig.last(0x356))
    assert amps == pytest.approx(10.0 + 6.0 + 4.0, abs=0.2)
    assert volts == pytest.approx(sum(r.voltage_v for r in readings) / 3, abs=0.02)
    _, ccl, dcl, _ = decode_351(rig.last(0x351))
    pack_limits = [p.limits for p in result.packs]
    assert ccl == pytest.approx(3 * min(lim.charge_current_a for lim in pack_limits), abs=0.1)
    assert dcl == pytest.approx(3 * min(lim.discharge_current_a for lim in pack_limits), abs=0.1)
    assert result.reading.pack_count == 3  # the bank's reading stands for three packs
    assert len(rig.line.packs) == 3 and rig.server.sim is rig.line  # one pty served every pack


def test_a_pack_that_drops_off_the_line_stops_a_bank_that_needs_every_pack_and_comes_back(bank):
    rig = bank()
    rig.run(4)
    rig.line.drop(2)
    rig.run(6)
    result = rig.results[-1]
    assert result.limits.fault is not None
    assert "pack2" in result.limits.reasons[0]
    _, ccl, dcl, _ = decode_351(rig.last(0x351))
    assert ccl == dcl == 0
    assert [p.online for p in result.packs] == [True, False, True]  # the others are still read
    rig.line.restore(2)
    rig.run(6)  # pack2 answers again: its settings are read again, then its cells
    assert rig.results[-1].limits.fault is None, rig.results[-1].limits.reasons
    _, ccl, _, _ = decode_351(rig.last(0x351))
    assert ccl > 0


def test_with_min_sources_two_the_bank_runs_on_without_the_missing_pack(bank):
    rig = bank(["gateway.min_sources=2"])
    rig.run(4)
    rig.line.drop(3)
    rig.run(6)
    result = rig.results[-1]
    assert result.limits.fault is None, result.limits.reasons
    online = [p for p in result.packs if p.online]
    assert [p.name for p in online] == ["pack1", "pack2"]
    _, amps = decode_356(rig.last(0x356))
    assert amps == pytest.approx(10.0 + 6.0, abs=0.2)
    _, ccl, _, _ = decode_351(rig.last(0x351))
    assert ccl == pytest.approx(2 * min(p.limits.charge_current_a for p in online), abs=0.1)


def test_a_hung_pack_does_not_stall_the_others(bank):
    rig = bank(["gateway.min_sources=2"], period=0.8)  # room for the hung pack's timeout and two polls
    rig.run(4)
    rig.line.inject_pack(1, "trickle")  # pack1 answers a byte every 10 ms: it holds the line to its timeout
    rig.run(6)
    later = rig.results[-4:]
    for result in later:
        online = {p.name: p.online for p in result.packs}
        assert online["pack2"] and online["pack3"], [p.limits.reasons for p in result.packs]
        assert result.limits.fault is None, result.limits.reasons
    assert all(not r.packs[0].online for r in later)
    assert all(p.reading is not None for r in later for p in r.packs[1:])
