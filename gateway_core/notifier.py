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
import time
from collections.abc import Callable
from dataclasses import dataclass

import pluggy

from .backoff import Backoff
from .model import CycleResult
from .plugins import call_each

log = logging.getLogger("gateway.observers")

QUEUE_SIZE = 64


@dataclass
class _PendingOpen:
    name: str
    observer: object
    open: Callable[[], object]
    backoff: Backoff
    due_s: float


class ObserverNotifier:
    """Calls the ``gateway_cycle_completed`` hook for each result, inline or on its own thread."""

    def __init__(self, pm: pluggy.PluginManager, *, threaded: bool = True) -> None:
        self._pm = pm
        self._queue: queue.Queue[CycleResult | None] = queue.Queue(QUEUE_SIZE)
        self._failed: set[str] = set()
        self.dropped = 0
        self.errors = 0
        self._pending: list[_PendingOpen] = []
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._drain, name="gateway-observers", daemon=True)
            self._thread.start()

    def submit(self, result: CycleResult) -> None:
        """Queue ``result`` (or deliver it now, inline); never blocks."""
        if self._thread is None:
            self._deliver(result)
            return
        if not self._pending and not self._pm.hook.gateway_cycle_completed.get_hookimpls():
            return  # nobody listens: the observer thread need not wake
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

    def retry_open(self, name: str, observer: object, open_: Callable[[], object]) -> None:
        """Take ``observer`` out until ``open_()`` succeeds; retried before deliveries, with backoff.

        Call from the thread that builds the gateway, before the loop starts.
        """
        if self._pm.is_registered(observer):
            self._pm.unregister(observer)
        backoff = Backoff()
        self._pending.append(
            _PendingOpen(name, observer, open_, backoff, time.monotonic() + backoff.next_delay())
        )

    def _retry_pending(self) -> None:
        now = time.monotonic()
        for item in list(self._pending):
            if now < item.due_s:
                continue
            try:
                item.open()
            except Exception as exc:
                item.due_s = now + item.backoff.next_delay()
                log.debug("observer '%s' still cannot start: %s", item.name, exc)
                continue
            self._pending.remove(item)
            self._pm.register(item.observer, name=f"observer:{item.name}")
            log.warning("observer '%s' started after retrying", item.name)

    def _deliver(self, result: CycleResult) -> None:
        if self._pending:
            self._retry_pending()
        call_each(self._pm, "gateway_cycle_completed", on_error=self._on_error, result=result)

    def _on_error(self, plugin: str, exc: BaseException) -> None:
        self.errors += 1
        if plugin not in self._failed:
            self._failed.add(plugin)
            log.warning("observer '%s' failed: %s (logged once; counted from now on)", plugin, exc)
