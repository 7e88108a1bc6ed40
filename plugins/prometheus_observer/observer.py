"""The ``prometheus`` observer: serves ``/metrics`` over HTTP and/or writes a node-exporter textfile.

Each cycle the observer folds the result into its collector (microseconds, on the observer thread);
the metrics are rendered only when Prometheus scrapes, or when the textfile is due. The constructor
does no I/O: the HTTP endpoint starts in :meth:`PrometheusObserver.open`, which the core calls before
the first cycle. If the port is taken, ``open()`` raises ``OSError`` and leaves nothing behind; the
core starts the control loop anyway, logs the failure once and calls ``open()`` again with backoff
(1, 2, 4 .. 30 s), leaving the observer out until then. With a textfile configured, ``open()``
does not raise: the observer stays in, so the textfile goes on, logs the failure once itself and
retries the endpoint from its cycles with the same backoff.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import generate_latest

from gateway_core import hookimpl
from gateway_core.backoff import Backoff
from gateway_core.model import CycleResult
from gateway_core.roles import PluginContext

from .config import PrometheusConfig
from .metrics import GatewayCollector, make_registry
from .server import MetricsServer

#: Where the project documents the systemd drop-in that lets the service use IP.
DROP_IN_DOC = 'docs/raspberry-pi.md, "Observers need the network"'


def bind_failure(listen: str, exc: OSError) -> str:
    """One line: why ``listen`` cannot be served, and what to do about it."""
    text = f"cannot serve metrics on {listen}: {exc.strerror or exc}"
    port_text = listen.rpartition(":")[2]
    if exc.errno == errno.EADDRINUSE:
        text += " (another program listens there: a second gateway, or node-exporter?)"
    elif exc.errno == errno.EACCES and port_text.isdigit() and 0 < int(port_text) < 1024:
        text += " (ports below 1024 need root; choose one above 1023, e.g. 9108)"
    elif exc.errno in (errno.EAFNOSUPPORT, errno.EPERM, errno.EACCES):
        text += (
            "; the service's sandbox blocks IP (the shipped unit has RestrictAddressFamilies= without "
            f"AF_INET and IPAddressDeny=any): add the drop-in from {DROP_IN_DOC} "
            "(sudo systemctl edit battery-gateway)"
        )
    return text


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
        self._server: MetricsServer | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._open_failures = 0
        self._http_backoff = Backoff()
        self._http_retry_at_s: float | None = None  # only with a textfile: the observer retries itself
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
        """Start the HTTP endpoint when ``listen`` is set; idempotent, and safe to call again after a
        failure (a failed attempt leaves no socket and no thread behind). A no-op after :meth:`close`.

        :raises OSError: the address cannot be bound (the message names it and what to do), unless a
            textfile is configured: then the failure is logged once and retried from the cycles.
        """
        address = self.config.address
        with self._lock:
            if address is None or self._server is not None or self._closed:
                return
            try:
                server = MetricsServer(address, self.registry, log=self._log)
            except OSError as exc:
                self._open_failures += 1
                text = bind_failure(self.config.listen, exc)
                if not self.config.textfile:
                    raise OSError(exc.errno, text) from exc
                first = self._http_retry_at_s is None
                self._http_retry_at_s = self._ctx.clock.now() + self._http_backoff.next_delay()
                if first:
                    self._log.warning(
                        "%s; the textfile goes on, the endpoint is retried with backoff (logged once)", text
                    )
                return
            self._http_retry_at_s = None
            thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
            try:
                thread.start()
            except BaseException:
                server.server_close()
                raise
            self._server, self._thread = server, thread
            failures = self._open_failures
        bound_host, bound_port = self.address or address
        after = f" (after {failures} failed attempts)" if failures else ""
        self._log.info("serving metrics on http://%s:%d/metrics%s", bound_host, bound_port, after)

    @property
    def server(self) -> MetricsServer | None:
        """The running HTTP server, or None."""
        return self._server

    @hookimpl
    def gateway_cycle_completed(self, result: CycleResult) -> None:
        """Fold ``result`` into the metrics; write the textfile when due.

        Called: after every cycle, on the observer thread, whether the endpoint is open or not; it
        binds only to retry an endpoint that failed while a textfile is configured (otherwise the
        core owns the retry). Returns in microseconds except when the textfile is due or a retry is.
        :returns: nothing. :raises: nothing (failures are logged once).
        """
        self.collector.update(result)
        if self._closed:
            return
        now = self._ctx.clock.now()
        if self._http_retry_at_s is not None and now >= self._http_retry_at_s:
            self.open()
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
