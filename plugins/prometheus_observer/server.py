"""The ``/metrics`` HTTP server, bounded: a few connections at once, each with a timeout, no tracebacks.

prometheus-client's own server starts one thread per connection and waits on each for ever, so 800
half-open connections made 804 threads. This one serves at most :data:`MAX_CONNECTIONS` at once and
answers any further one at once with ``503`` and closes it; every read and write of a connection
times out after :data:`REQUEST_TIMEOUT_S`. A client that resets the connection, sends garbage or
stalls ends its own connection, with one debug line at most. The exposition itself (text or
OpenMetrics, gzip) is prometheus-client's ``MetricsHandler``.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import Collector

#: Connections served at once; Prometheus needs one per scrape.
MAX_CONNECTIONS = 8

#: Longest wait for any one read or write on a connection.
REQUEST_TIMEOUT_S = 5.0

#: Connections the kernel may hold before ``accept``.
LISTEN_BACKLOG = 64

_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)

_default_log = logging.getLogger("gateway.prometheus.http")


class _Handler(MetricsHandler):
    """prometheus-client's handler with a timeout, and quiet about clients that go away."""

    log: logging.Logger = _default_log

    def handle(self) -> None:
        try:
            super().handle()
        except OSError as exc:  # a timeout, a reset, a broken pipe: that client's problem
            self.close_connection = True
            self.log.debug("metrics connection from %s ended: %s", self.client_address[0], exc)


def best_family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """The address family for ``host`` (IPv6 for ``::1``); :raises OSError: the name does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return family, str(sockaddr[0])


class MetricsServer(ThreadingHTTPServer):
    """Serves ``registry`` on ``(host, port)``; bound at construction, served by :meth:`serve_forever`.

    :raises OSError: the address cannot be resolved or bound (no socket is left open).
    """

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        registry: Collector,
        *,
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = REQUEST_TIMEOUT_S,
        log: logging.Logger = _default_log,
    ) -> None:
        family, host = best_family(*address)
        self.address_family = family
        self._slots = threading.BoundedSemaphore(max_connections)
        self._count_lock = threading.Lock()
        self.accepted = 0
        self.refused = 0
        self.active = 0
        self.peak = 0
        self._error_logged = False
        self._log = log
        attributes = {"registry": registry, "timeout": timeout_s, "log": log}
        handler = type("GatewayMetricsHandler", (_Handler,), attributes)
        super().__init__((host, address[1]), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve ``request`` on its own thread if a slot is free; otherwise answer 503 and close it."""
        with self._count_lock:
            self.accepted += 1
        if not self._slots.acquire(blocking=False):
            with self._count_lock:
                self.refused += 1
            try:
                request.setblocking(False)
                request.send(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._count_lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._free_slot()
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection, then free its slot."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._free_slot()

    def _free_slot(self) -> None:
        with self._count_lock:
            self.active -= 1
        self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of socketserver's traceback on stderr (a warning the first time)."""
        exc = sys.exc_info()[1]
        with self._count_lock:
            first, self._error_logged = not self._error_logged, True
        self._log.log(
            logging.WARNING if first else logging.DEBUG,
            "metrics request from %s failed: %s: %s%s",
            client_address[0] if client_address else "?",
            type(exc).__name__,
            exc,
            " (logged once)" if first else "",
        )
