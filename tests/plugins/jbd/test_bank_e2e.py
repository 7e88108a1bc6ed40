"""A mixed bank end to end: a JK BMS (115200 baud) and a JBD BMS (9600 baud) on two ptys, as
``[pack1] plugin = "jk_uart"`` and ``[pack2] plugin = "jbd"``, through the real engine to the Pylontech
sink on a virtual bus. Frames are decoded with struct and compared with what the packs report.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can
import pytest

from gateway_core.plugins import make_plugin_manager
from gateway_core.ptysim import PtyServer
from gateway_core.runner import Gateway, build_gateway
from gateway_core.sdnotify import SdNotifier
from jbd.simulator import SimulatedJbd
from jk_uart.simulator import SimulatedBms

PERIOD = 0.3


class MixedBank:
    """pack1: a simulated JK BMS; pack2: a simulated JBD BMS; the inverter's end of the bus."""

    def __init__(self, tmp_path: Path, extra: list[str]) -> None:
        self.jk = SimulatedBms(cells=16, soc_pct=60, current_a=20.0, seed=1)
        self.jbd = SimulatedJbd(cells=16, soc_pct=70, current_a=12.0, ntc_count=2, seed=2)
        self.servers = [
            PtyServer(self.jk, link=str(tmp_path / "ttyJK"), speed=0, baud=115200),
            PtyServer(self.jbd, link=str(tmp_path / "ttyJBD"), speed=0, baud=9600),
        ]
        jk_path, jbd_path = (server.start() for server in self.servers)
        channel = f"jbd-bank-{uuid.uuid4().hex[:8]}"
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.gateway: Gateway = build_gateway(
            make_plugin_manager(),
            config_path=Path("/dev/null"),
            overrides=[
                'gateway.sources=["pack1", "pack2"]',
                'gateway.sink="pylontech"',
                f"gateway.period={PERIOD}",
                "gateway.stale_after=1.0",
                'pack1.plugin="jk_uart"',
                f'pack1.port="{jk_path}"',
                "pack1.timeout=0.2",
                'pack2.plugin="jbd"',
                f'pack2.port="{jbd_path}"',
                "pack2.timeout=0.15",
                'pylontech.interface="virtual"',
                f'pylontech.channel="{channel}"',
                "pylontech.frame_gap_s=0",
                *extra,
            ],
            sd_notify=SdNotifier(""),
        )
        self.results: list[Any] = []
        self.frames: dict[int, bytes] = {}
        self.gateway.engine.start()

    def run(self, cycles: int) -> None:
        for _ in range(cycles):
            self.results.append(self.gateway.engine.cycle())
            while (message := self.bus.recv(0)) is not None:
                self.frames[message.arbitration_id] = bytes(message.data)
            self.gateway.loop._clock.sleep(PERIOD)

    def close(self) -> None:
        self.gateway.engine.shutdown()
        if self.gateway.claims is not None:
            self.gateway.claims.release()  # the jbd port's claim, so a later test may reuse the pty
        self.bus.shutdown()
        for server in self.servers:
            server.stop()


@pytest.fixture
def bank(tmp_path) -> Iterator[Any]:
    made: list[MixedBank] = []

    def make(extra: list[str] | None = None) -> MixedBank:
        made.append(MixedBank(tmp_path, extra or []))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_jk_and_a_jbd_pack_make_one_bank_on_the_bus(bank):
    rig = bank()
    rig.run(5)
    result = rig.results[-1]
    assert result.limits.fault is None, result.limits.reasons
    assert [(p.name, p.plugin, p.online) for p in result.packs] == [
        ("pack1", "jk_uart", True), ("pack2", "jbd", True)
    ]  # fmt: skip
    jbd_reading = result.packs[1].reading
    assert jbd_reading.cell_voltages_v == rig.jbd.cell_voltages() and jbd_reading.soc_pct == 70.0
    volts, deci_amps, _ = struct.unpack_from("<hhh", rig.frames[0x356])
    assert deci_amps / 10 == pytest.approx(20.0 + 12.0, abs=0.2)
    assert volts / 100 == pytest.approx(sum(p.reading.voltage_v for p in result.packs) / 2, abs=0.02)
    _cvl, ccl, dcl = struct.unpack_from("<Hhh", rig.frames[0x351])
    limits = [p.limits for p in result.packs]
    assert ccl / 10 == pytest.approx(2 * min(lim.charge_current_a for lim in limits), abs=0.1)
    assert dcl / 10 == pytest.approx(2 * min(lim.discharge_current_a for lim in limits), abs=0.1)


def test_a_refusing_jbd_pack_stops_the_bank(bank):
    rig = bank()
    rig.run(3)
    rig.jbd.inject("status_error")
    rig.run(5)
    assert rig.results[-1].limits.fault is not None
    assert "pack2" in rig.results[-1].limits.reasons[0]
    assert struct.unpack_from("<Hhh", rig.frames[0x351])[1:] == (0, 0)
    rig.jbd.clear_faults()
    rig.run(3)
    assert rig.results[-1].limits.fault is None, rig.results[-1].limits.reasons


def test_with_min_sources_one_the_jk_pack_carries_on_alone(bank):
    rig = bank(["gateway.min_sources=1"])
    rig.run(3)
    rig.jbd.inject("silence")
    rig.run(5)
    result = rig.results[-1]
    assert result.limits.fault is None, result.limits.reasons
    assert [p.online for p in result.packs] == [True, False]
    _, deci_amps, _ = struct.unpack_from("<hhh", rig.frames[0x356])
    assert deci_amps / 10 == pytest.approx(20.0, abs=0.2)
