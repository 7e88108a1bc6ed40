"""Regression tests for the core items of the adversarial test (issue 23), on the injected clock."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gateway_core.config import GatewayConfig
from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import ImplausibleReply
from gateway_core.model import Fault
from gateway_core.pack import PackSpec
from gateway_core.settings import setting_info
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy, make_reading

NAMES = PluginNames("src", "fixed", "sink")
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def engine_for(clock, source, *, cells=0) -> Any:
    sink = FakeSink(clock)
    spec = PackSpec("src", "fake", source, FixedPolicy(), "fixed", None, cells)
    engine = Engine([spec], None, sink, names=NAMES, clock=clock, period_s=1.0, stale_after_s=5.0)
    engine.start()
    return engine, sink


def cycles(engine, clock, n) -> Any:
    out = []
    for _ in range(n):
        out.append(engine.cycle())
        clock.advance(1.0)
    return out


def test_a_changed_cell_count_is_implausible_at_once_and_stays_refused(caplog):
    clock = FakeClock()
    counts = iter([16, 16, 32, 32, 8, 32, 16])
    source = FakeSource(clock, default=lambda: make_reading(clock, cells=next(counts)))
    engine, sink = engine_for(clock, source)
    results = cycles(engine, clock, 7)
    faults = [r.limits.fault for r in results]
    assert faults == [None, None, *[Fault.IMPLAUSIBLE_READING] * 4, None]
    assert all(r.limits.charge_current_a == 0 for r in results[2:6])
    assert "32 cells, but the pack has 16 (pinned)" in results[2].limits.reasons[0]
    assert sum("reported 32 cells, but the pack has 16" in m for m in caplog.messages) == 1  # warned once
    assert all(reading is None for reading, _ in sink.published[2:6])  # nothing rests on a refused reading


def test_the_cells_key_pins_the_count_before_the_first_reading():
    clock = FakeClock()
    source = FakeSource(clock, default=lambda: make_reading(clock, cells=32))
    engine, _ = engine_for(clock, source, cells=16)
    result = cycles(engine, clock, 1)[0]
    assert result.limits.fault is Fault.IMPLAUSIBLE_READING and "pinned" in result.limits.reasons[0]


def test_a_valid_frame_with_impossible_content_stops_at_once_instead_of_keeping_old_limits():
    clock = FakeClock()
    source = FakeSource(clock)
    engine, _sink = engine_for(clock, source)
    cycles(engine, clock, 2)
    source.steps.append(ImplausibleReply("SOC 255 % is outside 0-100 %"))
    result = cycles(engine, clock, 1)[0]
    assert result.limits.fault is Fault.IMPLAUSIBLE_READING
    assert "SOC 255" in result.limits.reasons[0] and result.reading is None


def test_a_decision_that_grew_old_before_it_was_sent_is_replaced_by_stop_limits():
    clock = FakeClock()

    class FreezingPolicy(FixedPolicy):
        def decide(self, reading, state):
            limits = super().decide(reading, state)
            clock.advance(7.0)  # SIGSTOP / a stalled SD card between the decision and the send
            return limits

    sink = FakeSink(clock)
    spec = PackSpec("src", "fake", FakeSource(clock), FreezingPolicy(), "fixed")
    engine = Engine([spec], None, sink, names=NAMES, clock=clock, period_s=1.0, stale_after_s=5.0)
    engine.start()
    result = engine.cycle()
    assert result.limits.fault is not None and result.limits.charge_current_a == 0
    assert sink.published[-1][1].fault is not None


def test_the_readme_states_the_period_and_stale_after_ranges_the_code_enforces():
    import dataclasses

    fields = {f.name: setting_info(f) for f in dataclasses.fields(GatewayConfig)}
    for key in ("period", "stale_after", "meter_stale_after"):
        info = fields[key]
        row = re.search(rf"^\| `{key}` \|.*$", README, re.MULTILINE)
        assert row is not None, key
        assert f"{info.min:g} to {info.max:g}" in row.group(0), (key, row.group(0))
