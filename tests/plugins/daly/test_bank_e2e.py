"""A mixed-vendor bank end to end: a JK pack and a Daly pack, each on its own pty at its real baud rate,
read in their own lanes by the real engine, combined, and sent by the Pylontech sink on a virtual bus.

The frames are decoded with struct, independently of the sink's DBC, and compared with what the two
packs report.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from daly.simulator import SimulatedDaly
from gateway_core.model import CycleResult, Fault
from gateway_core.plugins import make_plugin_manager
from gateway_core.ptysim import PtyServer
from gateway_core.runner import Gateway, build_gateway
from gateway_core.sdnotify import SdNotifier
from jk_uart.simulator import SimulatedBms

_channels = itertools.count(1)


def decode_351(data: bytes) -> tuple[float, float, float, float]:
    cvl, ccl, dcl, dvl = struct.unpack("<HhhH", data[:8])
    return cvl / 10, ccl / 10, dcl / 10, dvl / 10


def decode_356(data: bytes) -> tuple[float, float]:
    volts, amps, _ = struct.unpack("<hhh", data[:6])
    return volts / 100, amps / 10


class MixedBank:
    """pack1: a JK BMS at 115200 baud; pack2: a Daly BMS at 9600 baud."""

    def __init__(self, extra: list[str]) -> None:
        self.jk = SimulatedBms(cells=16, soc_pct=60, current_a=20.0, seed=1)
        self.daly = SimulatedDaly(cells=16, probes=2, soc_pct=70, current_a=-8.0, seed=2)
        self.servers = [PtyServer(self.jk, speed=0, baud=115200), PtyServer(self.daly, speed=0, baud=9600)]
        jk_path, daly_path = (server.start() for server in self.servers)
        channel = f"daly-bank-{next(_channels)}"
        self.bus = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        overrides = [
            'gateway.sources=["pack1", "pack2"]', 'gateway.sink="pylontech"', "gateway.period=1.0",
            'pack1.plugin="jk_uart"', f'pack1.port="{jk_path}"', "pack1.timeout=0.2",
            'pack2.plugin="daly"', f'pack2.port="{daly_path}"', "pack2.capacity_ah=280",
            'pylontech.interface="virtual"', f'pylontech.channel="{channel}"', "pylontech.frame_gap_s=0",
            *extra,
        ]  # fmt: skip
        self.gateway: Gateway = build_gateway(
            make_plugin_manager(),
            config_path=Path("/dev/null"),
            overrides=overrides,
            sd_notify=SdNotifier(""),
        )
        self.frames: list[can.Message] = []
        self.gateway.engine.start()

    def run(self, cycles: int) -> list[CycleResult]:
        results = []
        for _ in range(cycles):
            results.append(self.gateway.engine.cycle())
            while (msg := self.bus.recv(0)) is not None:
                self.frames.append(msg)
        return results

    def last(self, arbitration_id: int) -> bytes:
        return bytes(next(m.data for m in reversed(self.frames) if m.arbitration_id == arbitration_id))

    def close(self) -> None:
        self.gateway.engine.shutdown()
        if self.gateway.claims is not None:
            self.gateway.claims.release()  # the daly source claims its port for the process
        self.bus.shutdown()
        for server in self.servers:
            server.stop()


@pytest.fixture
def bank() -> Iterator[type[MixedBank]]:
    made: list[MixedBank] = []

    def make(extra: list[str] | None = None) -> MixedBank:
        made.append(MixedBank(extra or []))
        return made[-1]

    yield make  # type: ignore[misc]
    for each in made:
        each.close()


def test_a_jk_and_a_daly_pack_run_as_one_bank_on_the_bus(bank):
    rig = bank()
    result = rig.run(3)[-1]
    assert result.limits.fault is None, result.limits.reasons
    assert [p.plugin for p in result.packs] == ["jk_uart", "daly"] and all(p.online for p in result.packs)
    jk_reading, daly_reading = (p.reading for p in result.packs)
    assert daly_reading.current_a == -8.0 and daly_reading.cell_voltages_v == rig.daly.cell_voltages()
    assert daly_reading.capacity_ah == 280.0
    pack_limits = [p.limits for p in result.packs]
    cvl, ccl, dcl, _ = decode_351(rig.last(0x351))
    assert ccl == pytest.approx(2 * min(lim.charge_current_a for lim in pack_limits), abs=0.1)
    assert dcl == pytest.approx(2 * min(lim.discharge_current_a for lim in pack_limits), abs=0.1)
    assert cvl == pytest.approx(min(lim.charge_voltage_v for lim in pack_limits), abs=0.1)
    volts, amps = decode_356(rig.last(0x356))
    assert amps == pytest.approx(jk_reading.current_a + daly_reading.current_a, abs=0.2)  # 20 A - 8 A
    assert volts == pytest.approx((jk_reading.voltage_v + daly_reading.voltage_v) / 2, abs=0.02)
    assert result.reading is not None and result.reading.pack_count == 2  # the bank's combined reading


def test_an_impossible_daly_reply_takes_the_bank_to_stop_limits_at_once(bank):
    rig = bank()
    rig.run(2)
    rig.daly.inject("nonsense")
    result = rig.run(1)[-1]
    daly_pack = result.packs[1]
    assert not daly_pack.online and daly_pack.limits is not None
    assert daly_pack.limits.fault is Fault.IMPLAUSIBLE_READING
    assert result.limits.fault is not None
    _, ccl, dcl, _ = decode_351(rig.last(0x351))
    assert ccl == dcl == 0


def test_with_min_sources_one_the_jk_pack_runs_on_while_the_daly_is_refused(bank):
    rig = bank(["gateway.min_sources=1"])
    rig.run(2)
    rig.daly.inject("nonsense")
    result = rig.run(2)[-1]
    assert result.limits.fault is None and [p.online for p in result.packs] == [True, False]
    _, amps = decode_356(rig.last(0x356))
    assert amps == pytest.approx(result.packs[0].reading.current_a, abs=0.2)
