"""A bank end to end: two simulated JK BMS on two ptys -> the real engine -> Pylontech on a virtual bus.

Frames are decoded with struct (an independent path from the sink's DBC) and compared with what
the two packs physically report.
"""

from __future__ import annotations

import itertools
import struct
from pathlib import Path
from typing import Any

import can
import pytest

from gateway_core.plugins import make_plugin_manager
from gateway_core.ptysim import PtyServer
from gateway_core.runner import build_gateway
from gateway_core.sdnotify import SdNotifier
from jk_uart.simulator import SimulatedBms

_channels = itertools.count(1)


def decode_351(data: bytes) -> tuple[float, float, float, float]:
    cvl, ccl, dcl, dvl = struct.unpack("<HhhH", data[:8])
    return cvl / 10, ccl / 10, dcl / 10, dvl / 10


def decode_356(data: bytes) -> tuple[float, float]:
    volts, amps, _ = struct.unpack("<hhh", data[:6])
    return volts / 100, amps / 10


class Bank:
    def __init__(self, tmp_path: Path, extra: list[str], second: str = "jk") -> None:
        self.sims = [
            SimulatedBms(cells=16, soc_pct=60, current_a=20.0, seed=1),
            SimulatedBms(cells=16, soc_pct=70, current_a=12.0, seed=2),
        ]
        self.servers = [PtyServer(sim, speed=0, baud=115200) for sim in self.sims]
        paths = [server.start() for server in self.servers]
        self.channel = f"bank-e2e-{next(_channels)}"
        self.bus = can.Bus(interface="virtual", channel=self.channel, receive_own_messages=False)
        pack2 = (
            ['pack2.plugin="jk_uart"', f'pack2.port="{paths[1]}"', "pack2.timeout=0.2"]
            if second == "jk"
            else ['pack2.plugin="const"', "pack2.cells=16", "pack2.current=5.0", "pack2.soc=50"]
        )
        overrides = [
            'gateway.sources=["pack1", "pack2"]',
            'gateway.sink="pylontech"',
            "gateway.period=0.3",
            "gateway.stale_after=1.0",
            'pack1.plugin="jk_uart"',
            f'pack1.port="{paths[0]}"',
            "pack1.timeout=0.2",
            *pack2,
            'pylontech.interface="virtual"',
            f'pylontech.channel="{self.channel}"',
            "pylontech.frame_gap_s=0",
            *extra,
        ]
        self.frames: list[can.Message] = []
        self.gateway = build_gateway(
            make_plugin_manager(),
            config_path=Path("/dev/null"),
            overrides=overrides,
            sd_notify=SdNotifier(""),
            on_cycle=self._collect,
        )
        self.results: list[Any] = []

    def _collect(self, result) -> None:
        self.results.append(result)
        while (msg := self.bus.recv(0)) is not None:
            self.frames.append(msg)

    def run(self, cycles: int) -> None:
        self.gateway.loop._max_cycles = len(self.results) + cycles
        self.gateway.loop._stop.clear()
        self.gateway.engine.start()
        loop = self.gateway.loop
        for _ in range(cycles):
            result = loop._engine.cycle()
            self._collect(result)
            loop._clock.sleep(0.3)

    def last(self, arbitration_id: int) -> bytes:
        return bytes(next(m.data for m in reversed(self.frames) if m.arbitration_id == arbitration_id))

    def close(self) -> None:
        self.gateway.engine.shutdown()
        if self.gateway.claims is not None:
            self.gateway.claims.release()
        self.bus.shutdown()
        for server in self.servers:
            server.stop()


@pytest.fixture
def bank(tmp_path):
    made: list[Bank] = []

    def make(extra: list[str] | None = None, second: str = "jk") -> Bank:
        made.append(Bank(tmp_path, extra or [], second))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_the_bus_carries_the_combined_limits_the_summed_current_and_two_modules(bank):
    rig = bank()
    rig.run(6)
    result = rig.results[-1]
    assert result.limits.fault is None, result.limits.reasons
    pack_limits = [p.limits for p in result.packs]
    assert all(p.online for p in result.packs)
    cvl, ccl, dcl, _dvl = decode_351(rig.last(0x351))
    assert ccl == pytest.approx(2 * min(lim.charge_current_a for lim in pack_limits), abs=0.1)
    assert dcl == pytest.approx(2 * min(lim.discharge_current_a for lim in pack_limits), abs=0.1)
    assert cvl == pytest.approx(min(lim.charge_voltage_v for lim in pack_limits), abs=0.1)
    volts, amps = decode_356(rig.last(0x356))
    readings = [p.reading for p in result.packs]
    assert amps == pytest.approx(sum(r.current_a for r in readings), abs=0.2)  # 20 A + 12 A
    assert volts == pytest.approx(sum(r.voltage_v for r in readings) / 2, abs=0.02)
    assert rig.last(0x359)[4] == 2  # the module count


def test_a_silent_pack_stops_the_bank_when_all_are_needed(bank):
    rig = bank()
    rig.run(4)
    rig.sims[1].inject("silence")
    rig.run(6)
    assert rig.results[-1].limits.fault is not None
    _, ccl, dcl, _ = decode_351(rig.last(0x351))
    assert ccl == dcl == 0
    assert "pack2" in rig.results[-1].limits.reasons[0]


def test_with_min_sources_one_a_silent_pack_leaves_the_other_running(bank):
    rig = bank(["gateway.min_sources=1"])
    rig.run(4)
    rig.sims[1].inject("silence")
    rig.run(6)
    result = rig.results[-1]
    assert result.limits.fault is None
    _, ccl, _, _ = decode_351(rig.last(0x351))
    assert ccl == pytest.approx(result.packs[0].limits.charge_current_a, abs=0.1)  # 1 x pack1's limit
    _, amps = decode_356(rig.last(0x356))
    assert amps == pytest.approx(result.packs[0].reading.current_a, abs=0.2)


def test_a_mixed_vendor_bank_runs_with_the_example_third_party_source(bank):
    rig = bank(second="const")
    rig.run(5)
    result = rig.results[-1]
    assert result.limits.fault is None, result.limits.reasons
    assert [p.plugin for p in result.packs] == ["jk_uart", "const"]
    _, amps = decode_356(rig.last(0x356))
    assert amps == pytest.approx(result.packs[0].reading.current_a + 5.0, abs=0.2)


def test_two_pylontech_sinks_on_two_virtual_channels_each_get_every_set_and_a_broken_one_stops_neither():
    channels = [f"two-sinks-{next(_channels)}-{i}" for i in (1, 2)]
    buses = [can.Bus(interface="virtual", channel=c, receive_own_messages=False) for c in channels]
    overrides = [
        'gateway.source="const"',
        'gateway.sinks=["inv1", "inv2", "inv3"]',
        "gateway.period=0.2",
        *(f'inv{i + 1}.plugin="pylontech"' for i in range(3)),
        *(f'inv{i + 1}.interface="virtual"' for i in range(2)),
        *(f'inv{i + 1}.channel="{c}"' for i, c in enumerate(channels)),
        'inv3.interface="socketcan"',  # no such interface here: this sink never opens
        'inv3.channel="nocan0"',
        *(f"inv{i + 1}.frame_gap_s=0" for i in range(3)),
    ]
    results: list[Any] = []
    gateway = build_gateway(
        make_plugin_manager(),
        config_path=Path("/dev/null"),
        overrides=overrides,
        sd_notify=SdNotifier(""),
        on_cycle=results.append,
        max_cycles=5,
    )
    try:
        gateway.loop.run()
        sets = []
        for bus in buses:
            ids = []
            while (msg := bus.recv(0)) is not None:
                ids.append(msg.arbitration_id)
            sets.append(ids)
    finally:
        for bus in buses:
            bus.shutdown()
        if gateway.claims is not None:
            gateway.claims.release()
    for ids in sets:
        assert ids.count(0x351) == 6  # 5 cycles + the stop set on the way out, on each good channel
    assert all(r.sinks[0].published and r.sinks[1].published and not r.sinks[2].published for r in results)
    assert all(r.limits.fault is None for r in results[:5])
