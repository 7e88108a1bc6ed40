"""The control loop: cycles on an absolute schedule, watchdog pings, observers, clean shutdown."""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Callable
from types import FrameType

from .clock import Clock
from .engine import Engine
from .model import CycleResult
from .notifier import ObserverNotifier
from .sdnotify import SdNotifier

log = logging.getLogger("gateway.loop")

#: Signals whose default action ends the process; each ends a run with the stop set instead.
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in (
        "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM",
        "SIGPROF", "SIGPOLL", "SIGPWR", "SIGXCPU", "SIGXFSZ", "SIGSTKFLT",
    )
    if hasattr(signal, name)
)  # fmt: skip


class GatewayLoop:
    """Runs ``engine`` every ``period_s`` until stopped or ``max_cycles`` have run.

    The schedule is absolute (cycle *n* starts at ``start + n * period``); a cycle that overruns skips
    the slots it missed rather than bursting to catch up.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        period_s: float,
        notifier: ObserverNotifier | None = None,
        sd_notify: SdNotifier | None = None,
        max_cycles: int | None = None,
        on_cycle: Callable[[CycleResult], None] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._period_s = period_s
        self._notifier = notifier
        self._sd = sd_notify or SdNotifier("")
        self._max_cycles = max_cycles
        self._on_cycle = on_cycle
        self._stop = threading.Event()
        self.cycles = 0
        self.skipped_slots = 0

    def request_stop(self) -> None:
        """Ask the loop to finish its current cycle, publish stop limits and return."""
        self._stop.set()
        self._clock.wake()

    @property
    def notifier(self) -> ObserverNotifier | None:
        """The observers' notifier, if any."""
        return self._notifier

    def install_signal_handlers(self) -> None:
        """Every signal that would end the process requests a clean stop instead (main thread only).

        SIGTERM, SIGINT, SIGHUP (the SSH session of a foreground run closed), SIGQUIT, SIGUSR1/2 and
        the other terminating signals all end the run with the stop set published once. SIGKILL
        cannot be caught: then the inverter's own timeout is the last line of defence.
        """

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.request_stop()

        for signum in STOP_SIGNALS:
            signal.signal(signum, handler)

    def run(self) -> int:
        """Run until stopped; always ends with stop limits published once and everything closed."""
        self._engine.start()
        next_at = self._clock.now()
        try:
            while not self._stop.is_set():
                result = self._engine.cycle()
                self.cycles += 1
                self._after_cycle(result)
                if self._max_cycles is not None and self.cycles >= self._max_cycles:
                    break
                next_at += self._period_s
                now = self._clock.now()
                if now > next_at:
                    missed = math.ceil((now - next_at) / self._period_s)
                    self.skipped_slots += missed
                    next_at += missed * self._period_s
                    log.debug("cycle overran its period; skipped %d slot(s)", missed)
                if not self._stop.is_set():
                    self._clock.sleep(next_at - now)
        finally:
            self._sd.stopping()
            final = self._engine.shutdown()
            if self._notifier is not None:
                self._notifier.submit(final)
                self._notifier.close()
            self._sd.close()
        return 0

    def _after_cycle(self, result: CycleResult) -> None:
        if result.published:
            self._sd.ready()
        self._sd.watchdog()
        self._sd.status(status_line(result))
        if self._notifier is not None:
            self._notifier.submit(result)
        if self._on_cycle is not None:
            self._on_cycle(result)


def status_line(result: CycleResult) -> str:
    """A one-line summary for systemd's STATUS= (changes only when the state does)."""
    limits = result.limits
    if limits.fault is not None:
        head = f"FAIL-SAFE ({limits.fault.value}): {'; '.join(limits.reasons)}"
    else:
        head = f"charge {limits.charge_current_a:g} A, discharge {limits.discharge_current_a:g} A"
    if not result.published:
        head += "; sink down"
    return head
