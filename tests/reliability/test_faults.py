"""Fault injection over real pseudo-terminals: one test per fault, the whole stack real.

Each test lets the gateway run healthy, injects one fault, and asserts (in cycles, never in
seconds) when stop limits reach the bus, that the gateway recovers by itself once the fault
clears, and that no frame ever carried limits from a stale reading. See ``rig.py`` for the set-up.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_core.model import Fault
from jk_uart.simulator import SimulatedBms
from tests.reliability.rig import RECOVER_CYCLES, STALE_CYCLES, Rig


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.stop()


def start(rigs: list[Rig], tmp_path: Path, **options: Any) -> Rig:
    rig = Rig(tmp_path, **options)
    rigs.append(rig)
    return rig.start()


def source_fault_stops_then_recovers(rig: Rig, inject: Any, clear: Any, fault: Fault) -> None:
    """A fault of the BMS link: stop limits within STALE_CYCLES, policy limits again once cleared."""
    rig.wait_cycles(3)
    began = rig.mark()
    inject()
    first_stop = rig.wait_until(lambda r: r.limits.is_stop, within=STALE_CYCLES)
    assert rig.results[first_stop].limits.fault is fault, rig.results[first_stop].limits
    rig.wait_cycles(4)
    still = rig.results[first_stop : rig.mark()]
    assert all(r.limits.is_stop and r.published for r in still), rig.describe(first_stop)
    clear()
    rig.wait_until(lambda r: r.published and not r.limits.is_stop, within=RECOVER_CYCLES)
    rig.wait_cycles(2)
    rig.stop()
    assert first_stop - began <= STALE_CYCLES
    assert rig.stale_limits() == []
    assert rig.bus_matches_results() == []


def test_bms_silent(rigs, tmp_path):
    rig = start(rigs, tmp_path)
    source_fault_stops_then_recovers(
        rig, lambda: rig.sim.inject("silence"), rig.sim.clear_faults, Fault.STALE_READING
    )
    assert any("no reply" in p.message for r in rig.results for p in r.problems)


def test_garbage_bytes(rigs, tmp_path):
    rig = start(rigs, tmp_path)
    source_fault_stops_then_recovers(
        rig, lambda: rig.sim.inject("garbage"), rig.sim.clear_faults, Fault.STALE_READING
    )
    messages = [p.message for r in rig.results for p in r.problems]
    assert any("SourceTimeout" in m or "FrameError" in m for m in messages), messages


def test_bad_checksums(rigs, tmp_path):
    rig = start(rigs, tmp_path)
    source_fault_stops_then_recovers(
        rig, lambda: rig.sim.inject("bad_checksum"), rig.sim.clear_faults, Fault.STALE_READING
    )
    assert any(p.message.startswith("FrameError") for r in rig.results for p in r.problems)


def test_reply_slower_than_the_timeout(rigs, tmp_path):
    # 291 bytes at 5 ms each take 1.5 s, far past the 0.05 s deadline: every read times out
    rig = start(rigs, tmp_path, sim=SimulatedBms(cells=16, soc_pct=60.0, trickle_byte_s=0.005))
    source_fault_stops_then_recovers(
        rig, lambda: rig.sim.inject("trickle"), rig.sim.clear_faults, Fault.STALE_READING
    )
    assert any("incomplete reply" in p.message for r in rig.results for p in r.problems)


def test_frames_split_byte_by_byte_are_still_read(rigs, tmp_path):
    # each byte is its own write on the pty, 0.2 ms apart: 291 bytes fit the 0.2 s deadline
    sim = SimulatedBms(cells=16, soc_pct=60.0, trickle_byte_s=0.0002)
    rig = start(rigs, tmp_path, sim=sim, period=0.4)
    rig.wait_cycles(2)
    began = rig.mark()
    requests = sim.requests
    sim.inject("trickle", count=6)
    rig.wait_cycles(8)
    rig.stop()
    during = rig.results[began : began + 8]
    assert sim.requests - requests >= 6
    assert all(r.published and not r.limits.is_stop and r.reading is not None for r in during), rig.describe(
        began
    )
    assert not any(r.problems for r in during)
    assert rig.stale_limits() == []
    assert rig.bus_matches_results() == []


def test_serial_adapter_vanishes_and_returns(rigs, tmp_path):
    rig = start(rigs, tmp_path)
    rig.wait_cycles(2)
    fds = len(os.listdir("/proc/self/fd"))

    def unplug() -> None:
        rig.sim.unplug()
        assert rig.jk.wait_state(plugged=False)

    def plug() -> None:
        rig.sim.plug()
        assert rig.jk.wait_state(plugged=True)

    rig.wait_cycles(1)
    source_fault_stops_then_recovers(rig, unplug, plug, Fault.STALE_READING)
    problems = [p.message for r in rig.results for p in r.problems]
    assert any("unavailable" in m for m in problems)
    assert rig.engine._packs[0].link.failures >= 2  # reopened with backoff, not once per cycle only
    # the outage left no descriptor behind (after stop both ptys are closed: allow for those)
    assert len(os.listdir("/proc/self/fd")) <= fds


def sink_fault_recovers(rig: Rig, inject: Any, clear: Any, hold_cycles: int) -> int:
    """A fault of the CAN side: cycles go on unpublished, then publish fresh limits once cleared."""
    rig.wait_cycles(3)
    inject()
    down = rig.wait_until(lambda r: not r.published, within=4)
    if hold_cycles:
        rig.wait_cycles(hold_cycles)  # the loop keeps its period while the bus is gone
        assert not any(r.published for r in rig.results[down : rig.mark()])
    clear()
    cleared = rig.mark()
    back = rig.wait_until(lambda r: r.published and not r.limits.is_stop, within=RECOVER_CYCLES)
    rig.wait_cycles(3)
    rig.stop()
    assert rig.stale_limits() == []
    assert back - cleared <= RECOVER_CYCLES
    # after the outage the frames on the bus carry this cycle's decision: a fresh reading's limits
    after = rig.can.sent(0x351)[-4:-1]
    assert after and all(frame.allows_current for frame in after)
    assert not rig.can.sent(0x351)[-1].allows_current  # the shutdown's stop set is last
    return down


def test_can_adapter_vanishes_and_returns(rigs, tmp_path):
    rig = start(rigs, tmp_path)
    opens = rig.can.opens
    down = sink_fault_recovers(rig, rig.can.vanish, rig.can.come_back, hold_cycles=6)
    problems = [p.message for r in rig.results[down:] for p in r.problems]
    assert any("Could not write" in m or "failed" in m for m in problems)
    assert any("unavailable" in m for m in problems)  # reopen attempts found no device
    assert rig.can.opens > opens


def test_send_errors(rigs, tmp_path):
    # The adapter stops draining: the next send times out (send_timeout_s) -> SinkUnavailable. The
    # fault clears as soon as it is seen: python-can's slcan open() writes its set-up commands with
    # no write timeout, so a reopen against a still jammed adapter blocks the loop (see report).
    rig = start(rigs, tmp_path)
    down = sink_fault_recovers(rig, rig.can.jam, rig.can.unjam, hold_cycles=0)
    problems = [p.message for r in rig.results[down:] for p in r.problems]
    assert any("sending 0x" in m for m in problems)


class RaisingPolicy:
    """The real policy, made to raise while ``broken`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.broken = threading.Event()

    def decide(self, reading, state):
        if self.broken.is_set():
            raise KeyError("ladder step 7")
        return self.inner.decide(reading, state)


def test_plugin_that_raises(rigs, tmp_path):
    wrappers: list[RaisingPolicy] = []

    def wrap(inner: Any) -> RaisingPolicy:
        wrappers.append(RaisingPolicy(inner))
        return wrappers[-1]

    rig = start(rigs, tmp_path, wrap_policy=wrap)
    policy = wrappers[0]
    rig.wait_cycles(3)
    began = rig.mark()
    policy.broken.set()
    first_stop = rig.wait_until(lambda r: r.limits.is_stop, within=3)
    assert rig.results[first_stop].limits.fault is Fault.POLICY_ERROR
    assert first_stop - began <= 2  # the cycle in progress, then the first one that sees the fault
    rig.wait_cycles(3)
    policy.broken.clear()
    rig.wait_until(lambda r: not r.limits.is_stop, within=3)
    rig.wait_cycles(2)
    rig.stop()
    assert rig.stale_limits() == []
    assert rig.bus_matches_results() == []


class HangingSource:
    """The real source, whose read blocks while ``hang`` is set (a driver stuck in a syscall)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.hang = threading.Event()
        self.released = threading.Event()

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def read(self):
        if self.hang.is_set():
            self.released.wait(30)
        return self.inner.read()


def test_plugin_that_hangs_longer_than_the_period(rigs, tmp_path):
    wrappers: list[HangingSource] = []

    def wrap(inner: Any) -> HangingSource:
        wrappers.append(HangingSource(inner))
        return wrappers[-1]

    rig = start(rigs, tmp_path, wrap_source=wrap)
    source = wrappers[0]
    rig.wait_cycles(3)
    began = rig.mark()
    source.hang.set()
    first_stop = rig.wait_until(lambda r: r.limits.is_stop, within=3)
    assert first_stop - began <= 2
    assert rig.results[first_stop].limits.fault is Fault.TIMEOUT
    rig.wait_cycles(6)  # the hang lasts many periods; frames keep coming on schedule
    hung = rig.results[first_stop : rig.mark()]
    assert len(hung) >= 6 and all(r.published and r.limits.is_stop for r in hung)
    assert any("busy" in p.message for r in hung for p in r.problems)
    source.hang.clear()
    source.released.set()
    rig.wait_until(lambda r: not r.limits.is_stop, within=4)
    rig.wait_cycles(2)
    rig.stop()
    assert rig.stale_limits() == []
    assert rig.bus_matches_results() == []
