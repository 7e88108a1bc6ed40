"""Rate limits against floods from the broker: log lines per kind, and discovery republishing.

Anyone who may publish on the broker can send thousands of commands or ``online`` birth messages a
second. Both classes run on the injected clock and are thread-safe (paho's thread reports events,
the observer thread flushes them).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

#: Least time between two log lines of one kind; the rest go into one summary line per interval.
LOG_INTERVAL_S = 60.0

#: Least time between two full republishes of the discovery configs asked for by ``<prefix>/status``.
DISCOVERY_INTERVAL_S = 60.0


@dataclass(slots=True)
class _Window:
    since_s: float
    suppressed: int = 0
    latest: str = ""


class LogLimiter:
    """Logs the first event of each kind at once, then one summary line per interval while it lasts.

    ``event(kind, now, text)`` logs ``text`` when no line of ``kind`` went out in the last
    ``interval_s``; otherwise it only counts. ``flush(now)`` (called every cycle) logs
    "N more <kind> in the last 60 s; the latest: <text>" for each kind whose interval has ended.
    """

    def __init__(self, log: logging.Logger, interval_s: float = LOG_INTERVAL_S) -> None:
        self._log = log
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def event(self, kind: str, now: float, text: str, level: int = logging.WARNING) -> None:
        """One occurrence of ``kind``: logged now, or counted for the next summary."""
        self.flush(now, level)
        with self._lock:
            window = self._windows.get(kind)
            if window is not None:
                window.suppressed += 1
                window.latest = text
                return
            self._windows[kind] = _Window(now)
        self._log.log(level, "%s", text)

    def flush(self, now: float, level: int = logging.WARNING, *, final: bool = False) -> None:
        """Log the summary of every kind whose interval ended (``final``: of every kind, e.g. on close);
        forget kinds that went quiet."""
        lines: list[str] = []
        with self._lock:
            for kind, window in list(self._windows.items()):
                if now - window.since_s < self._interval_s and not (final and window.suppressed):
                    continue
                if window.suppressed == 0:
                    del self._windows[kind]
                    continue
                lines.append(
                    f"{window.suppressed} more {kind} in the last {now - window.since_s:.0f} s "
                    f"(logged once per {self._interval_s:g} s); the latest: {window.latest}"
                )
                self._windows[kind] = _Window(now)
        for line in lines:
            self._log.log(level, "%s", line)


class Throttle:
    """Lets an action run at most once per interval; a request inside the interval is deferred, not lost."""

    def __init__(self, interval_s: float = DISCOVERY_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._last_s: float | None = None
        self._pending = False
        self.deferred = 0

    def request(self, now: float) -> bool:
        """True: run it now (and it counts as run). False: it runs later, when :meth:`due` says so."""
        with self._lock:
            if self._last_s is None or now - self._last_s >= self._interval_s:
                self._last_s, self._pending = now, False
                return True
            self._pending = True
            self.deferred += 1
            return False

    def due(self, now: float) -> bool:
        """True once a deferred request may run (and it counts as run)."""
        with self._lock:
            if not self._pending or (self._last_s is not None and now - self._last_s < self._interval_s):
                return False
            self._last_s, self._pending = now, False
            return True
