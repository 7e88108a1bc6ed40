"""A corrupt byte or a closed channel on an slcan adapter (a fake CANable on a pty)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.engine import Engine, PluginNames
from gateway_core.plugins import make_plugin_manager
from gateway_core.roles import PluginContext
from pylontech_can.config import PylontechConfig
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock, FakeSource, FixedPolicy
from tests.support.slcan import SlcanAdapter

NAMES = PluginNames("fake", "fixed", "pylontech")
#: Lines python-can's slcan parser cannot take: ValueError, UnicodeDecodeError, IndexError.
CORRUPT = (b"tZZ18FF\r", b"\xff\xfe\r", b"t35\r")


class Adapter(SlcanAdapter):
    """The fake CANable, which can also put raw (corrupt) bytes on the host's line."""

    def inject_raw(self, data: bytes) -> None:
        self._send(data)


class LawicelAdapter(Adapter):
    """As the Lawicel CAN232 spec says: ``C`` on a channel that is not open is an error (BEL)."""

    def _answer(self, line: str, now: float) -> None:
        if line == "C" and not self.is_open:
            with self._records:
                self.commands.append(line)
            self._send(b"\a")
            return
        super()._answer(line, now)


@pytest.fixture
def adapter() -> Iterator[Adapter]:
    fake = Adapter()
    yield fake
    fake.close()


def make_engine(clock: FakeClock, adapter: Adapter) -> tuple[Engine, PylontechSink]:
    config = PylontechConfig(interface="slcan", channel=adapter.port, bus_options={"sleep_after_open": 0})
    sink = PylontechSink(config, PluginContext("pylontech", clock, logging.getLogger("test.slcan-guard")))
    engine = Engine(FakeSource(clock), FixedPolicy(), sink, names=NAMES, clock=clock, period_s=1.0)
    engine.start()
    return engine, sink


def wait(predicate: object, timeout_s: float = 5.0) -> bool:
    """Real-time hang guard for the pty's asynchronous delivery (never asserted as a duration)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_corrupt_received_frame_is_skipped_and_the_set_keeps_going_out(
    clock: FakeClock, adapter: Adapter
) -> None:
    engine, sink = make_engine(clock, adapter)
    try:
        assert engine.cycle().published and len(adapter.wait_for(6)) >= 6  # the adapter has answered
        opened = adapter.opens
        for line in CORRUPT:
            adapter.inject_raw(line)
        adapter.inject(0x305, bytes(8))  # a good frame behind the bad ones still counts
        outcomes = []
        for _ in range(12):
            clock.advance(1.0)
            result = engine.cycle()
            outcomes.append((result.published, result.problems))
            if getattr(sink._bus, "corrupt", 0) >= 3 and result.peer_seen_at_s is not None:
                break
        assert all(published and not problems for published, problems in outcomes), outcomes
        assert getattr(sink._bus, "corrupt", None) == 3  # each bad line counted once, then dropped
        assert sink.peer_seen_at_s is not None
        assert adapter.opens == opened  # never closed and reopened for a bad byte
        assert wait(lambda: len(adapter.sent(0x351)) >= len(outcomes) + 1)
    finally:
        engine.shutdown()


def test_an_adapter_that_refuses_frames_with_bel_is_a_lost_sink_and_is_reopened(
    clock: FakeClock, adapter: Adapter, caplog: pytest.LogCaptureFixture
) -> None:
    engine, _sink = make_engine(clock, adapter)
    try:
        assert engine.cycle().published and adapter.wait_for(6)
        opened = adapter.opens
        adapter.is_open = False  # the adapter reset: its CAN channel is closed, frames get BEL
        results = []
        with caplog.at_level(logging.WARNING, logger="gateway.engine"):
            for _ in range(20):
                time.sleep(0.02)  # a real period: the adapter's answers are in before the next publish
                clock.advance(1.0)
                results.append(engine.cycle())
                if any(not r.published for r in results) and results[-1].published and adapter.opens > opened:
                    break
        lost = [r for r in results if not r.published]
        assert lost, "a closed channel must not count as published"
        assert any("refused" in p.message and "BEL" in p.message for r in lost for p in r.problems)
        assert adapter.opens > opened and adapter.is_open  # reopened: C, S6, O again
        assert results[-1].published
        assert any("lost" in r.getMessage() for r in caplog.records)
    finally:
        engine.shutdown()


def test_monitor_survives_a_malformed_slcan_line(adapter: Adapter) -> None:
    app: typer.Typer = build_app(make_plugin_manager())
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.05):
            adapter.inject_raw(b"tZZZ8\r")
            adapter.inject(0x355, bytes.fromhex("0F006400"))

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        result = CliRunner().invoke(
            app,
            [
                *("pylontech", "monitor", "--interface", "slcan", "--channel", adapter.port),
                *("--option", "sleep_after_open=0", "--seconds", "0.6", "--refresh", "0.1"),
            ],
        )
    finally:
        stop.set()
        thread.join(timeout=2)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    last_view = result.stdout.strip().split("\n\n")[-1]
    assert "SOC 15 %" in last_view
    assert "corrupt frame(s) from the adapter" in last_view


def test_a_bel_answer_to_a_command_is_not_a_refused_frame() -> None:
    lawicel = LawicelAdapter()
    clock = FakeClock()
    try:
        engine, _sink = make_engine(clock, lawicel)  # python-can's open starts with C on a closed channel
        try:
            results = []
            for _ in range(6):
                results.append(engine.cycle())
                clock.advance(1.0)
            assert lawicel.wait_for(0x351, 6)
            results.append(engine.cycle())
            assert all(r.published for r in results), [r.problems for r in results]
            assert lawicel.opens == 2  # python-can's own open sequence (O twice), never reopened
        finally:
            engine.shutdown()
    finally:
        lawicel.close()
