"""End to end: a simulated Daly on a real pty at 9600 baud wire time -> the daly source -> limit_ladder ->
the Pylontech sink on a python-can virtual bus, where a second bus listens as the inverter would.

The gateway runs its own engine (inline lane) on a clock that follows real time, so the source's
reply deadlines and wire-time rule work on the real tty. The fail-safe under silence, garbage and
unplugging is the shared source contract's business (tests/core), not repeated here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import can
import pytest

from daly.simulator import SimulatedDaly
from gateway_core.plugins import make_plugin_manager
from gateway_core.ptysim import PtyServer
from gateway_core.runner import Gateway, build_gateway
from pylontech_can.decode import decode_frame

from .helpers import SkewClock


@dataclass
class Rig:
    sim: SimulatedDaly
    gateway: Gateway
    inverter: can.BusABC

    def cycle(self) -> dict[int, dict[str, object]]:
        """One gateway cycle that had a reading; the frames the inverter received, decoded."""
        result = self.gateway.engine.cycle()
        assert result.published and result.reading is not None, result.problems
        frames: dict[int, dict[str, object]] = {}
        while (message := self.inverter.recv(0)) is not None:
            frames[message.arbitration_id] = decode_frame(message.arbitration_id, bytes(message.data))
        return frames


def start(tmp_path, sim: SimulatedDaly, *extra: str) -> Iterator[Rig]:
    server = PtyServer(sim, link=str(tmp_path / "ttyDALY"), speed=0, baud=9600)
    server.start()
    channel = f"daly-e2e-{uuid.uuid4().hex[:8]}"
    gateway = build_gateway(
        make_plugin_manager(),
        config_path=None,
        overrides=[
            'gateway.source="daly"',
            'gateway.sink="pylontech"',
            'gateway.policy="limit_ladder"',
            "gateway.period=2.0",
            f'daly.port="{server.path}"',
            "daly.capacity_ah=280",
            'pylontech.interface="virtual"',
            f'pylontech.channel="{channel}"',
            *extra,
        ],
        clock=SkewClock(),
        threaded=False,
    )
    inverter = can.Bus(interface="virtual", channel=channel)
    gateway.engine.start()
    try:
        yield Rig(sim, gateway, inverter)
    finally:
        gateway.engine.shutdown()
        if gateway.claims is not None:
            gateway.claims.release()  # the daly source claims its port for the process
        inverter.shutdown()
        server.stop()


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    yield from start(tmp_path, SimulatedDaly(cells=16, probes=2, soc_pct=64.0, current_a=-20.0))


def test_the_inverter_sees_the_daly_pack_and_limits_from_its_cells(rig):
    frames = rig.cycle()
    status = rig.sim.status
    assert frames[0x356]["voltage_v"] == pytest.approx(status.voltage_v, abs=0.01)
    assert frames[0x356]["current_a"] == -20.0  # discharging, as the unit's 0x93 state agrees
    assert frames[0x355]["soc_pct"] == 64
    limits = frames[0x351]
    assert limits["charge_current_limit_a"] > 0 and limits["discharge_current_limit_a"] > 0
    assert limits["charge_voltage_limit_v"] == pytest.approx(3.45 * 16, abs=0.01)


def test_a_bms_alarm_reaches_the_limits(rig):
    rig.cycle()
    rig.sim.set_failures(["cell_voltage_high_l2"])
    frames = rig.cycle()
    assert frames[0x351]["charge_current_limit_a"] == 0.0  # over-voltage stops charging
    assert frames[0x351]["discharge_current_limit_a"] > 0


def test_cycles_in_a_row_at_wire_speed_take_every_reply(rig):
    """Six cycles in a row at wire speed: every reply is taken, none refused as late."""
    for _ in range(5):
        assert 0x351 in rig.cycle()
    reading = rig.gateway.engine.cycle().reading
    assert reading is not None and reading.cell_count == 16


@pytest.fixture
def inverted(tmp_path) -> Iterator[Rig]:
    sim = SimulatedDaly(cells=8, soc_pct=40.0, current_a=12.0, inverted=True)
    yield from start(tmp_path, sim, "daly.invert_current=true")


def test_a_unit_with_the_minority_sign_reads_right_with_invert_current(inverted):
    frames = inverted.cycle()
    assert frames[0x356]["current_a"] == 12.0 and frames[0x355]["soc_pct"] == 40
