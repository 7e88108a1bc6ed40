"""End to end: the JK simulator charges the pack through bulk -> absorption -> float -> bulk, and the CVL
and the SOC on the CAN bus follow the states.

The real jk_uart source reads a ``jksim://`` simulator (manual clock), the limit_ladder policy decides,
and the real pylontech sink sends on a python-can ``virtual`` bus, where a second bus listens as the
inverter. The inverter behaves like a CC/CV charger: it charges at the CCL it was sent until the pack
reaches the CVL it was sent, then only as much as keeps the pack at that voltage (so the current
tails off), and never discharges to reach a lower CVL. The gateway's FakeClock and the simulator both
move 30 s per cycle, so a day of charging runs in about a second.

The simulated cells differ by 0.05 % SOC (a top-balanced pack); ``reported_soc_max = 95`` makes the
cap visible, since the simulated BMS reports 98 % at 3.45 V per cell.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import can
import pytest

from gateway_core.plugins import make_plugin_manager
from gateway_core.runner import Gateway, build_gateway
from tests.fakes import FakeClock

STEP_S = 30.0
CVL_BULK, CVL_FLOAT = 55.2, 54.0


@dataclass
class Bench:
    """The running gateway, the simulated pack and the inverter's end of the bus."""

    gateway: Gateway
    clock: FakeClock
    sim: object
    inverter: can.BusABC
    state_dir: Path


@dataclass
class Seen:
    """One cycle as the inverter saw it, and what the policy decided."""

    t: float
    state: str | None
    cvl_bus: float
    ccl_bus: float
    soc_bus: int
    soc_bms: float
    soc_reported: float | None


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    from jk_uart.simulator import forget_simulator, get_simulator

    name = f"states-e2e-{uuid.uuid4().hex[:8]}"
    sim = get_simulator(name, cells=16, soc_pct=85.0, capacity_ah=280.0, cell_spread_pct=0.05)
    clock = FakeClock()
    gateway = build_gateway(
        make_plugin_manager(),
        config_path=None,
        overrides=[
            'gateway.source="jk_uart"',
            'gateway.sink="pylontech"',
            'gateway.policy="limit_ladder"',
            f'jk_uart.port="jksim://?cells=16&name={name}&clock=manual"',
            'pylontech.interface="virtual"',
            f'pylontech.channel="{name}"',
            "limit_ladder.reported_soc_max=95",
            f'limit_ladder.state_dir="{tmp_path}"',
        ],
        clock=clock,
        threaded=False,
    )
    inverter = can.Bus(interface="virtual", channel=name)
    gateway.engine.start()
    try:
        yield Bench(gateway, clock, sim, inverter, tmp_path)
    finally:
        gateway.engine.shutdown()
        inverter.shutdown()
        forget_simulator(name)


def cycle(bench: Bench) -> Seen:
    """One gateway cycle; the frames the inverter received, decoded twice (cantools-free struct, decoder)."""
    from pylontech_can.decode import decode_frame

    result = bench.gateway.engine.cycle()
    assert result.published and result.reading is not None, result.problems
    raw: dict[int, bytes] = {}
    while (message := bench.inverter.recv(0)) is not None:
        raw[message.arbitration_id] = bytes(message.data)
    cvl_dv, ccl_da, _dcl_da = struct.unpack_from("<HhH", raw[0x351])
    soc, _soh = struct.unpack_from("<HH", raw[0x355])
    decoded = decode_frame(0x351, raw[0x351])
    assert decoded["charge_voltage_limit_v"] == pytest.approx(cvl_dv / 10)
    assert decode_frame(0x355, raw[0x355])["soc_pct"] == soc
    return Seen(
        bench.clock.now(),
        result.limits.charge_state,
        cvl_dv / 10,
        ccl_da / 10,
        soc,
        result.reading.soc_pct,
        result.limits.reported_soc_pct,
    )


def drive(bench: Bench, seen: Seen, *, sun: bool) -> None:
    """The inverter's answer for the next 30 s: by day CC/CV up to the CCL/CVL it was sent (the solar
    power covers the house); at night no charging, and the house draws 30 A from the battery."""
    sim = bench.sim
    sim.set_current(0.0)  # type: ignore[attr-defined]
    resting_v = sum(sim.true_cell_voltages())  # type: ignore[attr-defined]
    resistance = sim.resistance_ohm * sim.cells  # type: ignore[attr-defined]
    charge = max(0.0, min(seen.ccl_bus, (seen.cvl_bus - resting_v) / resistance))
    sim.set_current(charge if sun else -30.0)  # type: ignore[attr-defined]
    sim.step(STEP_S)  # type: ignore[attr-defined]
    bench.clock.advance(STEP_S)


def run_day(bench: Bench) -> list[Seen]:
    """Charge until float, float for two hours in the sun, then the night until the pack rebulks."""
    log: list[Seen] = []
    float_at = None
    for _ in range(1000):
        seen = cycle(bench)
        log.append(seen)
        if seen.state == "float" and float_at is None:
            float_at = seen.t
        if float_at is not None and seen.state == "bulk":
            break
        drive(bench, seen, sun=float_at is None or seen.t - float_at < 7200)
    return log


def test_cvl_and_soc_on_the_bus_follow_bulk_absorption_float_and_rebulk(bench: Bench) -> None:
    log = run_day(bench)
    states = [s.state for s in log]
    order = [state for i, state in enumerate(states) if i == 0 or state != states[i - 1]]
    assert order == ["bulk", "absorption", "float", "bulk"]

    for s in log:
        assert s.cvl_bus == (CVL_FLOAT if s.state == "float" else CVL_BULK), s
        if s.state == "float":
            assert s.soc_reported == 100
        else:
            assert s.soc_reported == min(s.soc_bms, 95)
    assert any(s.soc_bms > 95 and s.soc_reported == 95 for s in log)  # the cap was needed and held

    absorption = [s for s in log if s.state == "absorption"]
    float_start = next(s for s in log if s.state == "float")
    assert float_start.t - absorption[0].t >= 900  # the tail and the spread had to hold 15 minutes
    rebulk = log[-1]
    assert rebulk.soc_bms < 90 and rebulk.soc_reported == rebulk.soc_bms  # follows the BMS again
    assert rebulk.cvl_bus == CVL_BULK

    assert saved_state(bench.state_dir / "jk_uart.json", "bulk")  # the memory file followed the states


def saved_state(path: Path, wanted: str) -> bool:
    """Whether the memory file (written off the cycle, named after the pack) soon holds ``wanted``."""
    for _ in range(100):
        if path.exists() and json.loads(path.read_text())["charge_state"]["state"] == wanted:
            return True
        time.sleep(0.05)
    return False


def test_the_soc_on_the_bus_is_the_reported_soc(bench: Bench) -> None:
    for _ in range(200):
        seen = cycle(bench)
        assert seen.soc_reported is not None and seen.soc_bus == round(seen.soc_reported)
        if seen.soc_bms > 95:
            break
        drive(bench, seen, sun=True)
    assert seen.soc_bus == 95
