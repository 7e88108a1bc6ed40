"""The fail-safe contract every BMS source inherits by registering a simulator (no copying).

For each registered source with ``simulator=``, its simulated device is served on a real pty and
read by the real source through the engine (real clock, short period). Each case states what the
inverter must see: readings, stop limits within ``stale_after`` + a period, or stop limits at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from gateway_core.clock import MonotonicClock
from gateway_core.engine import Engine, PluginNames
from gateway_core.model import CycleResult, Fault
from gateway_core.pack import PackSpec
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.ptysim import PtyServer
from gateway_core.roles import PluginContext
from gateway_core.settings import build_section
from gateway_core.simkit import Chunk, SimulatedDevice
from tests.fakes import FakeSink, FixedPolicy

REGISTRY = collect_registrations(make_plugin_manager())
SOURCES = sorted(n for n, r in REGISTRY.entries.items() if r.role == "source" and r.simulator is not None)
PERIOD = 0.3
STALE = 0.9
CELLS = 16


def test_the_builtin_bms_sources_have_simulators():
    assert "jk_uart" in SOURCES


class Rig:
    """One source plugin reading its simulated device over a pty, inside a real engine."""

    def __init__(self, name: str, device: SimulatedDevice, link: str, *, pace: bool = True) -> None:
        reg = REGISTRY.entries[name]
        self.device = device
        probe: Any = build_section(reg.config, name, device.source_settings("/dev/null"))
        baud = getattr(probe, "baudrate", None) if pace else None
        # a link, as udev's /dev/serial/by-id: a replugged adapter comes back as a new pty behind it
        self.server = PtyServer(device, link=link, speed=0.0, baud=baud if isinstance(baud, int) else None)
        path = self.server.start()
        settings: dict[str, Any] = dict(device.source_settings(path))
        fields = {f for f in reg.config.__dataclass_fields__}  # type: ignore[attr-defined]
        if "timeout" in fields:
            settings.setdefault("timeout", 0.2)
        config: Any = build_section(reg.config, name, settings)
        clock = MonotonicClock()
        ctx = PluginContext(name, clock, logging.getLogger(f"contract.{name}"), plugin=name, period_s=PERIOD)
        self.source = reg.factory(config, ctx)
        self.sink = FakeSink()
        spec = PackSpec(name, name, self.source, FixedPolicy(), "fixed")
        self.engine = Engine(
            [spec], None, self.sink, names=PluginNames(name, "fixed", "fake"), clock=clock,
            period_s=PERIOD, stale_after_s=STALE,
        )  # fmt: skip
        self.engine.start()

    def run(self, seconds: float) -> list[CycleResult]:
        results = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            results.append(self.engine.cycle())
            time.sleep(max(0.0, PERIOD - (time.monotonic() - started)))
        return results

    def close(self) -> None:
        self.engine.shutdown()
        self.server.stop()


@pytest.fixture(params=SOURCES)
def rig(request, tmp_path):
    reg = REGISTRY.entries[request.param]
    assert reg.simulator is not None
    rig = Rig(request.param, reg.simulator(CELLS), str(tmp_path / "tty"))
    yield rig
    rig.close()


def settled(rig: Rig) -> None:
    results = rig.run(1.2)
    assert results[-1].limits.fault is None, results[-1].limits.reasons
    assert results[-1].reading is not None and results[-1].reading.cell_count == CELLS


def test_a_healthy_device_gives_plausible_readings(rig):
    settled(rig)


@pytest.mark.parametrize("fault", ["silence", "garbage", "bad_checksum"])
def test_no_valid_reply_means_stop_limits_within_stale_after_and_a_period(rig, fault):
    settled(rig)
    rig.device.inject(fault)
    results = rig.run(STALE + 3 * PERIOD)
    assert results[-1].limits.fault in (Fault.STALE_READING, Fault.NO_READING)
    assert results[-1].limits.charge_current_a == results[-1].limits.discharge_current_a == 0
    rig.device.clear_faults()
    assert rig.run(1.5)[-1].limits.fault is None  # and it recovers


def test_impossible_content_in_a_valid_frame_stops_at_once(rig):
    settled(rig)
    rig.device.inject("nonsense")
    results = rig.run(3 * PERIOD)
    assert any(r.limits.fault is Fault.IMPLAUSIBLE_READING for r in results[:2]), [
        r.limits.reasons for r in results
    ]


@pytest.mark.parametrize("fault", ["split", "noise", "echo"])
def test_the_source_reads_through_line_noise(rig, fault):
    settled(rig)
    rig.device.inject(fault)
    results = rig.run(1.2)
    assert results[-1].limits.fault is None, results[-1].limits.reasons
    assert sum(r.limits.fault is None for r in results) >= len(results) - 1


def test_a_vanishing_port_stops_then_recovers(rig):
    settled(rig)
    rig.device.unplug()
    assert rig.server.wait_state(plugged=False)
    results = rig.run(STALE + 3 * PERIOD)
    assert results[-1].limits.fault is not None
    rig.device.plug()
    assert rig.server.wait_state(plugged=True)
    results = rig.run(4.5)
    assert results[-1].limits.fault is None, results[-1].limits.reasons


def test_a_changed_cell_count_is_refused_at_once(rig):
    settled(rig)
    rig.device.set_cell_count(32 if CELLS != 32 else 8)
    results = rig.run(3 * PERIOD)
    assert any(r.limits.fault is Fault.IMPLAUSIBLE_READING for r in results[:2])
    assert all(r.reading is None for r in results[1:])


class LateDevice:
    """A link that buffers: every request is answered with the reply to the one before it."""

    def __init__(self, device: SimulatedDevice) -> None:
        self._device = device
        self._held: list[Chunk] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device, name)

    def respond(self, data: bytes) -> list[Chunk]:
        fresh = self._device.respond(data)
        if not fresh:
            return []
        late, self._held = self._held, [Chunk(0.0, b"".join(c.data for c in fresh))]
        return late


@pytest.mark.parametrize("name", SOURCES)
def test_a_late_reply_to_an_earlier_request_is_never_taken_as_fresh(name, tmp_path):
    reg = REGISTRY.entries[name]
    assert reg.simulator is not None
    rig = Rig(name, LateDevice(reg.simulator(CELLS)), str(tmp_path / "tty"), pace=False)
    try:
        results = rig.run(STALE + 4 * PERIOD)
    finally:
        rig.close()
    assert all(r.limits.fault is not None for r in results), [r.limits.reasons for r in results]
