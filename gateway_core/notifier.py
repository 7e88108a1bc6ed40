"""Hands each cycle's result to the observers without ever delaying the control loop.

In production one thread drains a bounded queue and calls ``gateway_cycle_completed`` on every
observer one by one; when the observers fall behind, results are dropped and counted. Tests use
the inline form.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading

import pluggy

from .model import CycleResult
from .plugins import call_each

log = logging.getLogger("gateway.observers")

QUEUE_SIZE = 64


class ObserverNotifier:
    """Calls the ``gateway_cycle_completed`` hook for each result, inline or on its own thread."""

    def __init__(self, pm: pluggy.PluginManager, *, threaded: bool = True) -> None:
        self._pm = pm
        self._queue: queue.Queue[CycleResult | None] = queue.Queue(QUEUE_SIZE)
        self._failed: set[str] = set()
        self.dropped = 0
        self.errors = 0
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._drain, name="gateway-observers", daemon=True)
            self._thread.start()

    def submit(self, result: CycleResult) -> None:
        """Queue ``result`` (or deliver it now, inline); never blocks."""
        if self._thread is None:
            self._deliver(result)
            return
        try:
            self._queue.put_nowait(result)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("observers are behind: %d cycle results dropped", self.dropped)

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what is queued (up to ``timeout_s``) and stop the thread."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)
        self._thread = None

    def _drain(self) -> None:
        while True:
            result = self._queue.get()
            if result is None:
                return
            self._deliver(result)

    def _deliver(self, result: CycleResult) -> None:
        call_each(self._pm, "gateway_cycle_completed", on_error=self._on_error, result=result)

    def _on_error(self, plugin: str, exc: BaseException) -> None:
        self.errors += 1
        if plugin not in self._failed:
            self._failed.add(plugin)
            log.warning("observer '%s' failed: %s (logged once; counted from now on)", plugin, exc)
