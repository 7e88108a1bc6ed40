"""The ``prometheus`` observer: serves ``/metrics`` over HTTP and/or writes a node-exporter textfile.

Each cycle the observer folds the result into its collector (microseconds, on the observer thread);
the metrics are rendered only when Prometheus scrapes, or when the textfile is due. The constructor
does no I/O: the HTTP endpoint starts in :meth:`PrometheusObserver.open`, which the first cycle calls
if nobody did before; if the port is taken, it logs once and retries with backoff (1, 2, 4 .. 30 s).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest, start_http_server

from gateway_core import hookimpl
from gateway_core.backoff import Backoff
from gateway_core.model import CycleResult
from gateway_core.roles import PluginContext

from .config import PrometheusConfig
from .metrics import GatewayCollector, make_registry


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``<path>.tmp`` beside ``path``, then rename it over ``path``.

    A reader (node-exporter) sees the old file or the new one, never a partial one; node-exporter
    ignores the ``.tmp`` file since it reads only ``*.prom``. :raises OSError: the file is unchanged.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


class PrometheusObserver:
    """Exposes the gateway's metrics to Prometheus; one private registry per instance."""

    def __init__(
        self, config: PrometheusConfig, ctx: PluginContext, *, wall: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self._ctx = ctx
        self._log = ctx.logger
        self.collector = GatewayCollector(ctx.clock.now, wall)
        self.registry = make_registry(self.collector)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._http_backoff = Backoff()
        self._http_retry_at_s: float | None = None
        self._http_failing = False
        self._textfile_due_s: float | None = None
        self._textfile_failing = False

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` the endpoint is bound to (the real port when ``listen`` asked for 0), or None."""
        server = self._server
        if server is None:
            return None
        host, port = server.server_address[:2]
        return str(host), int(port)

    def open(self) -> None:
        """Start the HTTP endpoint when ``listen`` is set; idempotent.

        :raises OSError: the address cannot be bound (the message names it).
        """
        address = self.config.address
        with self._lock:
            if address is None or self._server is not None or self._closed:
                return
            host, port = address
            try:
                self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
            except OSError as exc:
                raise OSError(
                    exc.errno, f"cannot serve metrics on {self.config.listen}: {exc.strerror or exc}"
                ) from exc
        bound_host, bound_port = self.address or address
        self._log.info("serving metrics on http://%s:%d/metrics", bound_host, bound_port)

    @hookimpl
    def gateway_cycle_completed(self, result: CycleResult) -> None:
        """Fold ``result`` into the metrics; start the endpoint or write the textfile when due.

        Called: after every cycle, on the observer thread; returns in microseconds except when the
        textfile is due. :returns: nothing. :raises: nothing (failures are logged once per outage).
        """
        self.collector.update(result)
        if self._closed:
            return
        now = self._ctx.clock.now()
        if self.config.listen and self._server is None:
            self._retry_http(now)
        if self.config.textfile and (self._textfile_due_s is None or now >= self._textfile_due_s):
            self._textfile_due_s = now + self.config.textfile_interval
            self._write_textfile_logged()

    def render(self) -> bytes:
        """The metrics in the Prometheus text format, as a scrape would return them."""
        return generate_latest(self.registry)

    def write_textfile(self) -> None:
        """Write the textfile now, atomically. :raises OSError: it could not be written."""
        if self.config.textfile:
            with self._write_lock:
                write_atomically(Path(self.config.textfile), self.render())

    def close(self) -> None:
        """Write the final textfile and stop the endpoint; idempotent, never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if self.config.textfile:
            self._write_textfile_logged()
        if server is not None:
            try:
                server.shutdown()
                server.server_close()
            except Exception as exc:
                self._log.warning("metrics endpoint did not stop cleanly: %s", exc)
        if thread is not None:
            thread.join(timeout=2.0)

    def _retry_http(self, now: float) -> None:
        if self._http_retry_at_s is not None and now < self._http_retry_at_s:
            return
        try:
            self.open()
        except OSError as exc:
            delay = self._http_backoff.next_delay()
            self._http_retry_at_s = now + delay
            if not self._http_failing:
                self._http_failing = True
                self._log.error("%s; retrying with backoff (logged once)", exc.strerror or exc)
            return
        self._http_failing = False
        self._http_backoff.reset()

    def _write_textfile_logged(self) -> None:
        try:
            self.write_textfile()
        except OSError as exc:
            if not self._textfile_failing:
                self._textfile_failing = True
                self._log.error(
                    "cannot write metrics textfile %s: %s (logged once)", self.config.textfile, exc
                )
            return
        if self._textfile_failing:
            self._textfile_failing = False
            self._log.info("metrics textfile %s is written again", self.config.textfile)
