"""The ``web`` observer: keeps the latest cycle and the minute history, and serves them read-only.

Each cycle the observer thread only stores the result and folds it into the minute history
(microseconds, under a lock). The ``/api/state`` document of a cycle is built once, by the first
request that wants it, on an HTTP thread; so a page nobody watches costs nothing per cycle, and a
hundred watchers cost one build per cycle. Nothing here ever touches the engine: the page cannot
change anything on the gateway.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway_core import hookimpl
from gateway_core.errors import StartupError
from gateway_core.model import CycleResult
from gateway_core.roles import PluginContext

from .config import WebConfig
from .history import MinuteHistory, history_doc
from .server import PageServer, load_static
from .state import state_doc, waiting_doc

#: How often the server thread checks for a stop request (it bounds how long ``close()`` takes).
POLL_INTERVAL_S = 0.25


def to_json(doc: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (the model's numbers are finite, so NaN never appears)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


class PageStore:
    """The latest result and the history, shared by the observer thread and the HTTP threads."""

    def __init__(self, period_s: float, monotonic: Callable[[], float], wall: Callable[[], float]) -> None:
        self._period_s = period_s
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._result: CycleResult | None = None
        self._doc: dict[str, Any] | None = None
        self._history = MinuteHistory()
        self._history_json: tuple[int, bytes] | None = None  # (cycle, document) built for that cycle

    def update(self, result: CycleResult) -> None:
        """Take one cycle's result (observer thread)."""
        with self._lock:
            self._result = result
            self._doc = None
            self._history.add(result)

    def state(self) -> dict[str, Any]:
        """The ``/api/state`` document, with ``age_s``: how long ago, now, the cycle started."""
        with self._lock:
            result, doc = self._result, self._doc
        if result is None:
            return waiting_doc(period_s=self._period_s)
        if doc is None:
            doc = state_doc(result, period_s=self._period_s)
            with self._lock:
                if self._result is result:
                    self._doc = doc
        age = max(0.0, self._monotonic() - result.started_at_s)
        return {**doc, "age_s": age}

    def state_json(self) -> bytes:
        """:meth:`state` as JSON."""
        return to_json(self.state())

    def history_json(self) -> bytes:
        """The ``/api/history`` document as JSON, built at most once per cycle (~1440 points, ~100 kB)."""
        with self._lock:
            cycle = self._result.cycle if self._result is not None else 0
            if self._history_json is not None and self._history_json[0] == cycle:
                return self._history_json[1]
            doc = history_doc(self._history, monotonic_now=self._monotonic(), wall_now=self._wall())
        body = to_json(doc)
        with self._lock:
            self._history_json = (cycle, body)
        return body


class WebObserver:
    """Serves the page and ``/api/state``, ``/api/history`` on ``[web] listen``, from its own threads."""

    def __init__(
        self, config: WebConfig, ctx: PluginContext, *, wall: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self._log = ctx.logger
        self.store = PageStore(ctx.period_s, ctx.clock.now, wall)
        self._lock = threading.Lock()
        self._server: PageServer | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` the page is served on (the real port when ``listen`` asked for 0), or None."""
        server = self._server
        if server is None:
            return None
        return server.server_name, server.server_port

    @property
    def url(self) -> str | None:
        """``http://host:port/`` of the page, or None when it is not served."""
        address = self.address
        if address is None:
            return None
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"http://{host}:{address[1]}/"

    def open(self) -> None:
        """Bind ``listen`` and start serving on a daemon thread; nothing when ``listen`` is ""; idempotent.

        :raises StartupError: the address cannot be bound (taken, not this host's), in one line.
        """
        address = self.config.address
        with self._lock:
            if address is None or self._server is not None or self._closed:
                return
            try:
                server = PageServer(
                    address,
                    api={"/api/state": self.store.state_json, "/api/history": self.store.history_json},
                    static=load_static(),
                    max_connections=self.config.max_connections,
                    timeout_s=self.config.timeout,
                    logger=self._log,
                )
            except OSError as exc:
                raise StartupError(
                    f"[web] listen = {self.config.listen!r}: cannot serve the page: {exc.strerror or exc}"
                ) from None
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL_S},
                name="gateway-web",
                daemon=True,
            )
            self._thread.start()
        self._log.info("serving the page on %s", self.url)

    @hookimpl
    def gateway_cycle_completed(self, result: CycleResult) -> None:
        """Store ``result`` for the page and fold it into the history; returns in microseconds."""
        self.store.update(result)

    def close(self) -> None:
        """Stop serving; idempotent, never raises."""
        with self._lock:
            self._closed = True
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if server is not None:
            try:
                server.shutdown()
                server.server_close()
            except Exception as exc:
                self._log.warning("the web page did not stop cleanly: %s", exc)
        if thread is not None:
            thread.join(timeout=2.0)
