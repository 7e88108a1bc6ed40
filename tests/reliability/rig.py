"""The real gateway stack in-process over real pseudo-terminals, with the production lane and clock.

JK simulator on a pty (``jk_uart.pty_server.PtyServer``) -> ``JkUartSource`` -> ``LadderPolicy`` ->
``PylontechSink`` on python-can ``slcan`` -> pty -> :class:`~tests.support.slcan.SlcanAdapter`.
The loop runs on its own thread with ``MonotonicClock`` and ``ThreadLane`` (deadline 0.8 x period),
as ``gateway run`` does, only with a short period and a backoff scaled to it. Tests wait for cycles
(bounded in real time only as a hang guard) and assert on cycle counts and frame contents.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway_core.backoff import Backoff
from gateway_core.clock import MonotonicClock
from gateway_core.engine import Engine, PluginNames
from gateway_core.lane import ThreadLane
from gateway_core.loop import GatewayLoop
from gateway_core.model import CycleResult
from gateway_core.roles import PluginContext
from gateway_core.sdnotify import SdNotifier
from jk_uart.config import JkUartConfig
from jk_uart.pty_server import PtyServer
from jk_uart.simulator import SimulatedBms
from jk_uart.source import JkUartSource
from limit_ladder.config import LadderConfig
from limit_ladder.policy import LadderPolicy
from pylontech_can.config import PylontechConfig
from pylontech_can.sink import PylontechSink
from tests.support.slcan import SlcanAdapter

#: Default period; ``stale_after`` is STALE_PERIODS periods and the JK reply deadline half a period.
PERIOD = 0.1
JK_BAUD = 115200  # the pty keeps a real line's wire time: the source refuses faster (late) replies
STALE_PERIODS = 5
#: Cycles after a source fault begins within which stop limits must be on the bus:
#: the reading ages past ``stale_after`` (STALE_PERIODS cycles), plus the cycle in progress when
#: the fault began, plus the cycle whose reading was the last good one.
STALE_CYCLES = STALE_PERIODS + 2
#: Reopen backoff in periods (production: 1 s .. 30 s with a 1 s period).
BACKOFF_PERIODS = 4
#: Cycles within which the gateway must be back to non-zero limits once a fault has cleared.
RECOVER_CYCLES = BACKOFF_PERIODS + 4
#: Real-time hang guard per awaited cycle, in periods (never asserted as a duration).
GUARD_PERIODS = 20


class Rig:
    """One gateway run over two ptys; ``start()``, inject faults, ``wait_until(...)``, ``stop()``."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        sim: SimulatedBms | None = None,
        wrap_source: Callable[[Any], Any] | None = None,
        wrap_policy: Callable[[Any], Any] | None = None,
        period: float = PERIOD,
    ) -> None:
        self.period = period
        self.stale_after = STALE_PERIODS * period
        self.clock = MonotonicClock()
        self.sim = sim or SimulatedBms(cells=16, soc_pct=60.0, current_a=0.0)
        self.jk = PtyServer(self.sim, link=str(tmp_path / "jk-bms"), speed=0, baud=JK_BAUD)
        self.can = SlcanAdapter(str(tmp_path / "can-adapter"))
        self.source = JkUartSource(JkUartConfig(port=self.jk.path, timeout=period / 2), self._ctx("jk_uart"))
        self.policy = LadderPolicy(LadderConfig(), self._ctx("limit_ladder"))
        self.sink = PylontechSink(
            PylontechConfig(interface="slcan", channel=self.can.port, bus_options={"sleep_after_open": 0}),
            self._ctx("pylontech"),
        )
        source = wrap_source(self.source) if wrap_source else self.source
        policy = wrap_policy(self.policy) if wrap_policy else self.policy
        self.engine = Engine(
            source,
            policy,
            self.sink,
            names=PluginNames("jk_uart", "limit_ladder", "pylontech"),
            clock=self.clock,
            period_s=period,
            stale_after_s=self.stale_after,
            lane=ThreadLane(),
            backoff=lambda: Backoff(initial_s=period, maximum_s=BACKOFF_PERIODS * period),
        )
        self.loop = GatewayLoop(
            self.engine, clock=self.clock, period_s=period, sd_notify=SdNotifier(""), on_cycle=self._record
        )
        self.results: list[CycleResult] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self.loop.run, name="gateway-loop", daemon=True)
        self._stopped = False

    def _ctx(self, name: str) -> PluginContext:
        return PluginContext(name, self.clock, logging.getLogger(f"gateway.{name}"))

    def _record(self, result: CycleResult) -> None:
        with self._cond:
            self.results.append(result)
            self._cond.notify_all()

    # -- running --------------------------------------------------------------------------------

    def start(self) -> Rig:
        """Serve the BMS, start the loop and wait until it publishes policy limits."""
        self.jk.start()
        self._thread.start()
        self.wait_until(lambda r: r.published and not r.limits.is_stop, within=20)
        return self

    def stop(self) -> None:
        """Stop the loop (it publishes stop limits once), then the ptys; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.loop.request_stop()
        self._thread.join(timeout=10)
        self.jk.stop()
        self.can.close()

    def mark(self) -> int:
        """The number of cycles completed so far (the index the next cycle's result will get)."""
        with self._cond:
            return len(self.results)

    def wait_cycles(self, count: int) -> None:
        """Let ``count`` more cycles complete."""
        target = self.mark() + count
        self._wait(lambda: len(self.results) >= target, count)

    def wait_until(
        self, predicate: Callable[[CycleResult], bool], within: int, start: int | None = None
    ) -> int:
        """Index of the first cycle from ``start`` (default: now) satisfying ``predicate``.

        :raises AssertionError: no such cycle among the next ``within`` cycles.
        """
        begin = self.mark() if start is None else start
        found: list[int] = []

        def check() -> bool:
            for index in range(begin, min(len(self.results), begin + within)):
                if predicate(self.results[index]):
                    found.append(index)
                    return True
            return len(self.results) >= begin + within

        self._wait(check, within)
        assert found, f"no matching cycle among cycles {begin}..{begin + within - 1}: {self.describe(begin)}"
        return found[0]

    def _wait(self, done: Callable[[], bool], cycles: int) -> None:
        deadline = time.monotonic() + GUARD_PERIODS * self.period * cycles + 5.0
        with self._cond:
            while not done():
                left = deadline - time.monotonic()
                assert left > 0, f"the loop stalled: {len(self.results)} cycles so far"
                self._cond.wait(min(left, 0.5))

    def describe(self, start: int) -> str:
        """A short trace of cycles from ``start``, for assertion messages."""
        parts = []
        for result in self.results[start : start + 30]:
            state = "stop" if result.limits.is_stop else "lim"
            parts.append(f"{result.cycle}:{state}{'' if result.published else '(unpub)'}")
        return " ".join(parts)

    # -- checks -------------------------------------------------------------------------------------

    def stale_limits(self) -> list[str]:
        """Published cycles whose non-zero limits rest on no reading, or on one older than STALE."""
        bad = []
        for result in list(self.results):
            if not result.published or result.limits.is_stop:
                continue
            if result.reading is None:
                bad.append(f"cycle {result.cycle}: limits without a reading")
            elif result.started_at_s - result.reading.taken_at_s > self.stale_after:
                bad.append(f"cycle {result.cycle}: limits from a reading older than {self.stale_after} s")
        return bad

    def bus_matches_results(self) -> list[str]:
        """Each published cycle put one 0x351 on the bus, zero currents exactly when the cycle stopped.

        Includes the stop set of the shutdown as the last frame. Call after :meth:`stop`.
        """
        published = [not r.limits.is_stop for r in self.results if r.published] + [False]
        frames = self.can.wait_for(0x351, len(published), timeout_s=5.0)
        on_bus = [frame.allows_current for frame in frames]
        if on_bus != published:
            return [f"bus 0x351 allow-pattern {on_bus} != published {published}"]
        return []
