"""The HTTP side: a standard-library threading server, bounded, read-only, on its own threads.

:class:`PageServer` serves at most ``max_connections`` clients at once, each on its own short-lived
thread (HTTP/1.0: one request per connection, so no idle keep-alive connection holds a thread); one
more gets ``503`` straight away from the accepting thread. A client that sends or reads nothing for
``timeout_s`` is cut. Only ``GET`` is served; every other method gets ``405``. The static files are
read from the package once, at start.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

#: Path -> (file in ``web/static``, content type).
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/chart.js": ("chart.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
JSON_TYPE = "application/json"
#: Sent with every response: nothing but our own files may run, load or frame the page.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_REQUEST_LINE = 8192

#: ``path -> JSON bytes`` for the API (``/api/state``, ``/api/history``).
ApiRoutes = dict[str, Callable[[], bytes]]


def load_static() -> dict[str, tuple[bytes, str]]:
    """Every static file of the page, keyed by its URL path: ``(content, content type)``."""
    folder = resources.files("web").joinpath("static")
    return {path: (folder.joinpath(name).read_bytes(), ctype) for path, (name, ctype) in STATIC.items()}


class PageServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` with a connection limit, timeouts and no reverse-DNS lookup at bind."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 32
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        api: ApiRoutes,
        static: dict[str, tuple[bytes, str]],
        max_connections: int,
        timeout_s: float,
        logger: logging.Logger,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self.static = static
        self.timeout_s = timeout_s
        self.log = logger
        self.slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0
        self.errors = 0
        super().__init__(address, PageHandler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s ``getfqdn`` (a reverse-DNS lookup that stalls an offline Pi)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve on a new thread when a slot is free; otherwise answer 503 at once and close."""
        if not self.slots.acquire(blocking=False):
            self.refused += 1
            _refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Handle one connection on its own thread, then free its slot."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failing request is counted and logged at debug level, never printed as a traceback."""
        self.errors += 1
        self.log.debug("request from %s failed", client_address, exc_info=True)


def _refuse(request: socket.socket) -> None:
    """Answer 503 and end the connection without a reset, in at most about 0.3 s.

    The request is read off the socket before it is closed: closing with unread data makes the
    kernel send a reset, which can destroy the 503 before the client reads it.
    """
    body = b"busy: too many connections, retry in a second\n"
    head = (
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    try:
        request.settimeout(0.1)
        request.sendall(head.encode("ascii") + body)
        request.shutdown(socket.SHUT_WR)
        for _ in range(3):
            if not request.recv(65536):
                break
    except OSError:
        pass


class PageHandler(BaseHTTPRequestHandler):
    """One connection, one request: ``GET`` of a static file or an API document."""

    server: PageServer
    server_version = "battery-gateway-web"
    sys_version = ""

    def version_string(self) -> str:
        """The Server: header, without the Python version."""
        return self.server_version

    def setup(self) -> None:
        """Apply the server's timeout to this connection's socket."""
        self.request.settimeout(self.server.timeout_s)
        super().setup()

    def handle_one_request(self) -> None:
        """Read one request line and headers; serve ``GET``, answer 405 to anything else."""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", "", ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            if self.command == "GET":
                self._get()
            else:
                self._reply(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    b"read-only: only GET is served\n",
                    "text/plain; charset=utf-8",
                    {"Allow": "GET"},
                )
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def _get(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        route = self.server.api.get(path)
        if route is not None:
            self._reply(HTTPStatus.OK, route(), JSON_TYPE)
            return
        static = self.server.static.get(path)
        if static is not None:
            self._reply(HTTPStatus.OK, static[0], static[1])
            return
        self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _reply(
        self, status: HTTPStatus, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the debug log, never to stderr."""
        self.server.log.debug("%s %s", self.address_string(), format % args)
