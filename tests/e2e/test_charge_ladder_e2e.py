"""End to end: the JK simulator charges, the limit_ladder steps the charge limit down, the CAN frames show it.

The real jk_uart source reads a ``jksim://`` simulator (manual clock), the default limit_ladder
policy decides, and the real pylontech sink sends on a python-can ``virtual`` bus, where a second
bus listens like an inverter would. The "inverter" obeys: it charges at the CCL it was last sent.
Each cycle the gateway's FakeClock and the simulator both move 30 s, so an hour of charging runs
in well under a second and the 45-minute re-rise hold is checked without sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import can
import pytest

from gateway_core.plugins import make_plugin_manager
from gateway_core.runner import Gateway, build_gateway
from tests.fakes import FakeClock

STEP_S = 30.0


@dataclass
class Bench:
    """The running gateway, the simulated pack and the inverter's end of the bus."""

    gateway: Gateway
    clock: FakeClock
    sim: object
    inverter: object


@pytest.fixture
def bench() -> Iterator[Bench]:
    from jk_uart.simulator import forget_simulator, get_simulator

    name = f"ladder-e2e-{uuid.uuid4().hex[:8]}"
    clock = FakeClock()
    gateway = build_gateway(
        make_plugin_manager(),
        config_path=None,
        overrides=[
            'gateway.source="jk_uart"',
            'gateway.sink="pylontech"',
            'gateway.policy="limit_ladder"',
            f'jk_uart.port="jksim://?cells=16&name={name}&clock=manual&soc=96"',
            'pylontech.interface="virtual"',
            f'pylontech.channel="{name}"',
        ],
        clock=clock,
        threaded=False,
    )
    inverter = can.Bus(interface="virtual", channel=name)
    gateway.engine.start()
    try:
        yield Bench(gateway, clock, get_simulator(name), inverter)
    finally:
        gateway.engine.shutdown()
        inverter.shutdown()
        forget_simulator(name)


def cycle(bench: Bench) -> tuple[dict[int, dict[str, object]], float]:
    """One gateway cycle; returns the decoded frames the inverter received, and the highest cell."""
    from pylontech_can.decode import decode_frame

    result = bench.gateway.engine.cycle()
    assert result.published, result.problems
    assert result.reading is not None, result.problems
    frames: dict[int, dict[str, object]] = {}
    while (message := bench.inverter.recv(0)) is not None:  # type: ignore[attr-defined]
        frames[message.arbitration_id] = decode_frame(message.arbitration_id, bytes(message.data))
    assert 0x351 in frames and 0x35C in frames
    return frames, result.reading.max_cell_v


def advance(bench: Bench, amps: float) -> None:
    """The inverter drives ``amps`` into the pack for one step; the gateway's clock moves alike."""
    bench.sim.set_current(amps)  # type: ignore[attr-defined]
    bench.sim.step(STEP_S)  # type: ignore[attr-defined]
    bench.clock.advance(STEP_S)


def test_charge_limit_steps_down_on_the_bus_as_the_pack_fills(bench: Bench) -> None:
    steps: list[float] = []
    at_step: dict[float, float] = {}
    for _ in range(400):
        frames, highest = cycle(bench)
        ccl = float(frames[0x351]["charge_current_limit_a"])  # type: ignore[arg-type]
        assert bool(frames[0x35C]["charge_enable"]) == (ccl > 0)
        if not steps or ccl != steps[-1]:
            steps.append(ccl)
            at_step[ccl] = highest
        if ccl == 0:
            break
        advance(bench, ccl)
    assert steps == [60.0, 30.0, 15.0, 2.0, 0.0]
    # each step appeared once the highest cell had reached its threshold (first match from the top)
    assert at_step[30.0] >= 3.45 and at_step[15.0] >= 3.47 and at_step[2.0] >= 3.50 and at_step[0.0] >= 3.55
    assert frames[0x351]["discharge_current_limit_a"] == 60.0
    # The highest cell is above cell_target_v (3.50 V): the runaway-cell control has lowered the CVL
    # by the excess x 16 cells, never below float (54.0 V); 0x351 carries 0.1 V steps.
    expected_cvl = max(54.0, 55.2 - 16 * (highest - 3.50))
    assert frames[0x351]["charge_voltage_limit_v"] == pytest.approx(expected_cvl, abs=0.1)

    # The house now draws 30 A. The charge limit stays 0 on the bus until the highest cell is below
    # 3.40 V *and* 45 minutes have passed since the cut, then returns to 60 A.
    cut_at = bench.clock.now()
    below_at = None
    for _ in range(200):
        advance(bench, -30.0)
        frames, highest = cycle(bench)
        ccl = float(frames[0x351]["charge_current_limit_a"])  # type: ignore[arg-type]
        if highest < 3.40 and below_at is None:
            below_at = bench.clock.now()
        if ccl > 0:
            break
        assert not frames[0x35C]["charge_enable"]
    assert ccl == 60.0
    assert below_at is not None and below_at < bench.clock.now()
    assert bench.clock.now() - cut_at >= 2700
