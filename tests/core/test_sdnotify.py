"""The sd_notify protocol against a real AF_UNIX datagram socket, as systemd's NOTIFY_SOCKET.

READY=1 only after the first successful publish, WATCHDOG=1 once per completed cycle, STATUS= on
change, STOPPING=1 at the end; and a cycle that hangs in the sink sends no WATCHDOG=1, so systemd's
WatchdogSec= kills and restarts the process. Assertions are on message counts, never durations.
"""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_core.clock import MonotonicClock
from gateway_core.engine import Engine, PluginNames
from gateway_core.errors import SinkError, SourceTimeout
from gateway_core.lane import ThreadLane
from gateway_core.loop import GatewayLoop
from gateway_core.model import BatteryReading, CycleResult, Limits, PublishReport
from gateway_core.sdnotify import SdNotifier
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy, make_reading

NAMES = PluginNames("fake", "fixed", "memory")


class NotifySocket:
    """systemd's side of NOTIFY_SOCKET: a bound AF_UNIX SOCK_DGRAM socket drained by a thread.

    The thread reads at once, as PID 1 does; the kernel's datagram queue is short (often 10), and a
    full queue would make the sender drop messages after its send timeout.
    """

    def __init__(self, bind_to: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self._messages: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            with self._changed:
                self._messages.append(data.decode())
                self._changed.notify_all()

    @property
    def messages(self) -> list[str]:
        """Every message so far, in order."""
        with self._changed:
            return list(self._messages)

    def wait_until(self, message: str, count: int = 1, timeout_s: float = 10.0) -> list[str]:
        """Wait until ``message`` has arrived ``count`` times in all; returns all messages."""
        with self._changed:
            ok = self._changed.wait_for(lambda: self._messages.count(message) >= count, timeout_s)
            assert ok, f"{message} x{count} never arrived; got {self._messages[-10:]}"
            return list(self._messages)

    def new_within(self, seconds: float) -> list[str]:
        """The messages that arrive within ``seconds`` from now (empty when the sender is silent)."""
        with self._changed:
            before = len(self._messages)
            self._changed.wait_for(lambda: len(self._messages) > before, seconds)
            return self._messages[before:]

    def close(self) -> None:
        """Stop collecting."""
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    """A path socket in a short temporary directory (sun_path holds 108 bytes), as NOTIFY_SOCKET."""
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as tmp:
        path = str(Path(tmp) / "notify")
        listener = NotifySocket(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        yield listener
        listener.close()


class FlakySink(FakeSink):
    """Fails its first ``failures`` publishes (as a CAN bus that is not up yet), then works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def publish(self, reading: BatteryReading | None, limits: Limits) -> PublishReport:
        if self.failures > 0:
            self.failures -= 1
            raise SinkError("Network is down")
        return super().publish(reading, limits)


class HangingSink(FakeSink):
    """Blocks in publish while ``hang`` is set, until ``release`` is set (a hung driver)."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = threading.Event()
        self.hanging = threading.Event()
        self.release = threading.Event()

    def publish(self, reading: BatteryReading | None, limits: Limits) -> PublishReport:
        if self.hang.is_set():
            self.hanging.set()
            self.release.wait(30)
        return super().publish(reading, limits)


def fake_loop(sink: FakeSink, cycles: int, results: list[CycleResult]) -> GatewayLoop:
    clock = FakeClock()
    engine = Engine(FakeSource(clock), FixedPolicy(), sink, names=NAMES, clock=clock, period_s=1.0)
    return GatewayLoop(
        engine, clock=clock, period_s=1.0, sd_notify=SdNotifier(), max_cycles=cycles, on_cycle=results.append
    )


def test_ready_comes_only_after_the_first_successful_publish(notify_socket: NotifySocket) -> None:
    results: list[CycleResult] = []
    fake_loop(FlakySink(failures=1), cycles=8, results=results).run()
    messages = notify_socket.wait_until("STOPPING=1")

    first_published = next(r.cycle for r in results if r.published)
    assert first_published > 1, "the sink failed first, so cycle 1 published nothing"
    assert messages.count("READY=1") == 1
    before_ready = messages[: messages.index("READY=1")]
    assert before_ready.count("WATCHDOG=1") == first_published - 1
    assert any(m.startswith("STATUS=") and "sink down" in m for m in before_ready)


def test_watchdog_once_per_completed_cycle_and_stopping_last(notify_socket: NotifySocket) -> None:
    results: list[CycleResult] = []
    fake_loop(FakeSink(), cycles=6, results=results).run()
    messages = notify_socket.wait_until("STOPPING=1")

    assert messages[0] == "READY=1"
    assert messages.count("WATCHDOG=1") == len(results) == 6
    assert messages[-1] == "STOPPING=1"
    assert messages.count("STOPPING=1") == 1


def test_status_is_sent_on_change_only(notify_socket: NotifySocket) -> None:
    fake_loop(FakeSink(), cycles=5, results=[]).run()
    statuses = [m for m in notify_socket.wait_until("STOPPING=1") if m.startswith("STATUS=")]

    assert statuses == ["STATUS=charge 50 A, discharge 60 A"]


def test_status_names_the_fail_safe(notify_socket: NotifySocket) -> None:
    clock = FakeClock()
    source = FakeSource(clock, default=SourceTimeout("no reply"))
    engine = Engine(source, FixedPolicy(), FakeSink(), names=NAMES, clock=clock, period_s=1.0)
    GatewayLoop(engine, clock=clock, period_s=1.0, sd_notify=SdNotifier(), max_cycles=2).run()
    statuses = [m for m in notify_socket.wait_until("STOPPING=1") if m.startswith("STATUS=")]

    assert len(statuses) == 1
    assert statuses[0].startswith("STATUS=FAIL-SAFE (no_reading)")
    assert "\n" not in statuses[0]


def test_a_hung_cycle_stops_the_watchdog_pings(notify_socket: NotifySocket) -> None:
    sink = HangingSink()
    clock = MonotonicClock()
    source = FakeSource(FakeClock(), default=lambda: make_reading(None, taken_at_s=clock.now()))
    engine = Engine(source, FixedPolicy(), sink, names=NAMES, clock=clock, period_s=0.05)
    loop = GatewayLoop(engine, clock=clock, period_s=0.05, sd_notify=SdNotifier())
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        notify_socket.wait_until("READY=1")
        notify_socket.wait_until("WATCHDOG=1", count=3)

        sink.hang.set()
        assert sink.hanging.wait(10), "publish never blocked"
        # The pings of the cycles that completed before the hang have been sent by now: the loop
        # thread sends WATCHDOG=1 before it starts the next cycle, and it is stuck in that cycle.
        cycles_at_hang = loop.cycles
        pings_at_hang = notify_socket.wait_until("WATCHDOG=1", count=cycles_at_hang).count("WATCHDOG=1")
        assert pings_at_hang == cycles_at_hang
        assert notify_socket.new_within(0.5) == []  # ten periods: silence, so WatchdogSec= fires
        assert loop.cycles == cycles_at_hang

        sink.hang.clear()
        sink.release.set()
        notify_socket.wait_until("WATCHDOG=1", count=pings_at_hang + 1)  # the cycle completes
    finally:
        sink.release.set()
        loop.request_stop()
        thread.join(10)
    assert not thread.is_alive()
    assert notify_socket.wait_until("STOPPING=1")[-1] == "STOPPING=1"


def test_a_hung_source_does_not_stop_the_pings_because_frames_still_go_out(
    notify_socket: NotifySocket,
) -> None:
    """The lane abandons a hung read: stop limits are published on schedule and each cycle completes."""
    clock = MonotonicClock()
    stuck = threading.Event()
    release = threading.Event()

    def hung_read() -> BatteryReading:
        stuck.set()
        release.wait(30)
        return make_reading(None, taken_at_s=clock.now())

    sink = FakeSink()
    source = FakeSource(FakeClock(), steps=[hung_read])
    engine = Engine(source, FixedPolicy(), sink, names=NAMES, clock=clock, period_s=0.05, lane=ThreadLane())
    loop = GatewayLoop(engine, clock=clock, period_s=0.05, sd_notify=SdNotifier())
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert stuck.wait(10)
        notify_socket.wait_until("WATCHDOG=1", count=5)
        assert sink.limits and all(limits.is_stop for limits in sink.limits)
    finally:
        release.set()
        loop.request_stop()
        thread.join(10)
    assert not thread.is_alive()


def test_abstract_namespace_address() -> None:
    name = f"battery-gateway-test-{threading.get_ident()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    try:
        notifier = SdNotifier("@" + name)
        assert notifier.enabled
        notifier.ready()
        notifier.ready()  # once only
        notifier.watchdog()
        notifier.close()
        listener.settimeout(5)
        assert [listener.recv(64).decode() for _ in range(2)] == ["READY=1", "WATCHDOG=1"]
    finally:
        listener.close()


def test_without_notify_socket_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SdNotifier()
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    notifier.ready()
    assert not notifier.ready_sent


def test_a_vanished_socket_never_raises(tmp_path: Path) -> None:
    notifier = SdNotifier(str(tmp_path / "gone"))
    assert notifier.send("WATCHDOG=1") is False
    notifier.ready()
    assert not notifier.ready_sent  # tried again after a failed send
