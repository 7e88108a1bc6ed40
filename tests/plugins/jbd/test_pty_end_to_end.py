"""End to end: simulated JBD on a real pty (9600 baud wire time) -> jbd source -> limit_ladder ->
pylontech sink on a python-can ``virtual`` bus, where a second bus listens like an inverter.

What the inverter receives is decoded twice: by the sink's DBC decoder and by ``struct`` here.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import can
import pytest

from gateway_core.plugins import make_plugin_manager
from gateway_core.ptysim import PtyServer
from gateway_core.runner import Gateway, build_gateway
from jbd.simulator import SimulatedJbd


class SkewClock:
    """Real monotonic time (reply deadlines and wire times pass) plus an offset tests push forward."""

    def __init__(self) -> None:
        self._offset = 1000.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def wake(self) -> None:
        pass


@dataclass
class Bench:
    gateway: Gateway
    clock: SkewClock
    sim: SimulatedJbd
    inverter: can.BusABC

    def cycle(self) -> dict[int, bytes]:
        """One gateway cycle; the frames the inverter received, by id."""
        result = self.gateway.engine.cycle()
        assert result.published, result.problems
        self.clock.advance(1.0)
        frames: dict[int, bytes] = {}
        while (message := self.inverter.recv(0)) is not None:
            frames[message.arbitration_id] = bytes(message.data)
        return frames


@pytest.fixture
def bench(tmp_path) -> Iterator[Bench]:
    sim = SimulatedJbd(cells=16, soc_pct=64.0, current_a=-10.0, temperature_c=22.0, ntc_count=2)
    server = PtyServer(sim, link=str(tmp_path / "ttyJBD"), speed=0, baud=9600)
    server.start()
    channel = f"jbd-e2e-{uuid.uuid4().hex[:8]}"
    clock = SkewClock()
    gateway = build_gateway(
        make_plugin_manager(),
        config_path=None,
        overrides=[
            'gateway.source="jbd"',
            'gateway.sink="pylontech"',
            'gateway.policy="limit_ladder"',
            f'jbd.port="{server.path}"',
            'pylontech.interface="virtual"',
            f'pylontech.channel="{channel}"',
        ],
        clock=clock,
        threaded=False,
    )
    inverter = can.Bus(interface="virtual", channel=channel)
    gateway.engine.start()
    try:
        yield Bench(gateway, clock, sim, inverter)
    finally:
        gateway.engine.shutdown()
        inverter.shutdown()
        server.stop()


def test_the_inverter_sees_the_jbd_pack(bench: Bench) -> None:
    from pylontech_can.decode import decode_frame

    frames = bench.cycle()
    assert {0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E} <= set(frames)
    basic = bench.sim.basic_info()
    volts, deci_amps, deci_c = struct.unpack_from("<hhh", frames[0x356])
    assert volts / 100 == pytest.approx(basic.voltage_v, abs=0.011)
    assert deci_amps / 10 == -10.0
    assert deci_c / 10 == pytest.approx(sum(basic.temperatures_c) / 2, abs=0.11)
    assert struct.unpack_from("<H", frames[0x355])[0] == basic.soc_pct == 64
    cvl, ccl, dcl = struct.unpack_from("<Hhh", frames[0x351])
    assert ccl > 0 and dcl > 0 and cvl == 552  # 16 x 3.45 V
    decoded = decode_frame(0x351, frames[0x351])
    assert decoded["charge_current_limit_a"] == ccl / 10
    assert decode_frame(0x35C, frames[0x35C])["charge_enable"] == 1


def test_impossible_content_stops_the_inverter_at_once(bench: Bench) -> None:
    assert struct.unpack_from("<Hhh", bench.cycle()[0x351])[1] > 0
    bench.sim.inject("nonsense")  # valid frames, SOC 255 %: ImplausibleReply, no last good reading kept
    frames = bench.cycle()
    _, ccl, dcl = struct.unpack_from("<Hhh", frames[0x351])
    assert (ccl, dcl) == (0, 0) and frames[0x35C][0] & 0xC0 == 0
    bench.sim.clear_faults()
    assert struct.unpack_from("<Hhh", bench.cycle()[0x351])[1] > 0


def test_a_refusing_bms_ends_in_stop_limits_once_the_reading_is_stale(bench: Bench) -> None:
    bench.cycle()
    bench.sim.inject("status_error")
    limits = [struct.unpack_from("<Hhh", bench.cycle()[0x351])[1:] for _ in range(7)]
    assert limits[0] != (0, 0)  # the last good reading is still fresh
    assert limits[-1] == (0, 0)  # and then it is not: 0 A both ways, every cycle
