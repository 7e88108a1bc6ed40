"""A real gateway in-process: the JK simulator (``jksim://``), the ladder policy, the Pylontech sink on
python-can's virtual bus and the web observer on a free port, its loop on a thread.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway_core.clock import MonotonicClock
from gateway_core.model import CycleResult
from gateway_core.plugins import make_plugin_manager
from gateway_core.runner import Gateway, build_gateway, run_gateway
from web.observer import WebObserver

if TYPE_CHECKING:
    from jk_uart.simulator import SimulatedBms

_names = itertools.count(1)


@dataclass
class LiveGateway:
    """The running gateway, its simulator and every cycle's result, recorded on the loop thread."""

    gateway: Gateway
    observer: WebObserver
    sim: SimulatedBms
    period_s: float
    results: list[CycleResult] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The page's address."""
        assert self.observer.url is not None
        return self.observer.url

    def result(self, cycle: int) -> CycleResult:
        """The recorded result of ``cycle``."""
        (found,) = [r for r in list(self.results) if r.cycle == cycle]
        return found

    def wait_cycles(self, count: int, timeout_s: float = 30.0) -> None:
        """Wait until ``count`` more cycles have run (a hang bound, never asserted as speed)."""
        target = len(self.results) + count
        deadline = time.monotonic() + timeout_s
        while len(self.results) < target:
            assert time.monotonic() < deadline, "the gateway stopped cycling"
            time.sleep(self.period_s / 4)


@contextmanager
def live_gateway(
    *, period_s: float = 0.2, stale_after_s: float = 1.0, current_a: float = 20.0, soc_pct: float = 61.0
) -> Iterator[LiveGateway]:
    """Run the gateway until the block ends; then stop it cleanly (stop limits, observers closed)."""
    from jk_uart.simulator import forget_simulator, get_simulator

    name = f"web-test-{os.getpid()}-{next(_names)}"
    sim = get_simulator(name, cells=16, soc_pct=soc_pct, current_a=current_a)  # the URL shares this one
    url = f"jksim://?name={name}"
    pm = make_plugin_manager()
    results: list[CycleResult] = []
    gateway = build_gateway(
        pm,
        config_path=None,
        overrides=[
            'gateway.source="jk_uart"',
            'gateway.policy="limit_ladder"',
            'gateway.sink="pylontech"',
            'gateway.observers=["web"]',
            f"gateway.period={period_s!r}",
            f"gateway.stale_after={stale_after_s!r}",
            f'jk_uart.port="{url}"',
            "jk_uart.timeout=0.1",
            'pylontech.interface="virtual"',
            f'pylontech.channel="{name}"',
            'web.listen="127.0.0.1:0"',
        ],
        clock=MonotonicClock(),
        threaded=True,
        on_cycle=results.append,
    )
    (observer,) = gateway.observers
    assert isinstance(observer, WebObserver)
    live = LiveGateway(gateway, observer, sim, period_s, results)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_gateway(gateway, install_signals=False)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="web-test-gateway", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while observer.url is None or not results:
            assert not errors, errors
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.02)
        yield live
    finally:
        gateway.loop.request_stop()
        thread.join(10)
        forget_simulator(name)
    assert not thread.is_alive(), "the gateway did not stop"
    assert not errors, errors
