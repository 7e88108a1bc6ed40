"""Serial lines shared by several plugin instances: one open port, and turns on it.

Several packs on one RS485 line (JK-PB, Daly, ... with addresses) are several source instances
reading through one port. :func:`open_line` opens the port once per process (by its real path) and
hands every instance the same :class:`SharedLine`; :meth:`SharedLine.turn` gives one instance the
line at a time, least recently served first, so no pack is starved, and keeps a minimum gap between
one turn's end and the next one's start, as slow BMS firmware needs.

A turn not granted within its wait raises :class:`LineBusy` (a :class:`SourceTimeout`: the engine
keeps that pack's last good reading until it is stale). After an I/O error an instance calls
:meth:`SharedLine.invalidate`: the port closes for everyone, each instance's next turn raises
:class:`SourceUnavailable`, and the first to reopen opens a fresh port for all.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from .clock import Clock
from .errors import SourceTimeout, SourceUnavailable

T = TypeVar("T")

_registry: dict[str, SharedLine[object]] = {}
_registry_lock = threading.Lock()


#: How long a turn on an idle shared line waits for the other instances of the same cycle to ask.
SETTLE_S = 0.02


class LineBusy(SourceTimeout):
    """The shared line was not free within the wait (other instances were using it)."""


def line_key(port: str) -> str:
    """The identity of a port: its real path for a device (by-id links resolve), else the URL."""
    if "://" in port:
        return port
    return os.path.realpath(port)


class SharedLine(Generic[T]):
    """One open port (``handle``) that several clients use in turns."""

    def __init__(self, key: str, handle: T, closer: Callable[[T], None], clock: Clock) -> None:
        self.key = key
        self.handle = handle
        self._closer = closer
        self._clock = clock
        self._cond = threading.Condition()
        self._clients: set[str] = set()
        self._waiting: set[str] = set()
        self._served: dict[str, int] = {}
        self._turns = itertools.count(1)
        self._owner: str | None = None
        self._released_at: float | None = None
        self._settle_until = 0.0
        self.closed = False

    @property
    def clients(self) -> frozenset[str]:
        """The instances that hold the line open."""
        return frozenset(self._clients)

    @contextmanager
    def turn(self, client: str, *, wait_s: float, gap_s: float = 0.0) -> Iterator[T]:
        """Hold the line for one exchange; yields the port.

        Waits (real time) at most ``wait_s`` for the line, then at least ``gap_s`` (on the injected
        clock) after the previous turn ended. :raises LineBusy: not granted in time.
        :raises SourceUnavailable: the line was invalidated or closed.
        """
        deadline = time.monotonic() + wait_s
        with self._cond:
            self._waiting.add(client)
            if self._owner is None and len(self._clients) > 1 and self._settle_until <= time.monotonic():
                # an idle shared line: let the instances of this cycle arrive, so the least recently
                # served goes first rather than whichever thread happened to run first
                self._settle_until = time.monotonic() + min(SETTLE_S, wait_s)
            try:
                while True:
                    if self.closed:
                        raise SourceUnavailable(f"{self.key}: the shared port was closed")
                    now = time.monotonic()
                    settled = now >= self._settle_until or self._waiting >= self._clients
                    if self._owner is None and settled and self._next_waiter() == client:
                        break
                    remaining = deadline - now
                    if remaining <= 0:
                        others = self._owner or "another instance"
                        raise LineBusy(f"{self.key}: line busy ({others} has it); no turn in {wait_s:.2f} s")
                    self._cond.wait(remaining if settled else min(remaining, self._settle_until - now))
            finally:
                self._waiting.discard(client)
            self._owner = client
        try:
            if self._released_at is not None:
                since = self._clock.now() - self._released_at
                if since < gap_s:
                    self._clock.sleep(gap_s - since)
            yield self.handle
        finally:
            with self._cond:
                self._owner = None
                self._released_at = self._clock.now()
                self._served[client] = next(self._turns)
                self._cond.notify_all()

    def _next_waiter(self) -> str:
        return min(self._waiting, key=lambda name: (self._served.get(name, 0), name))

    def release(self, client: str) -> None:
        """``client`` is done with the line; the last one out closes the port. Idempotent."""
        with _registry_lock, self._cond:
            self._clients.discard(client)
            if self._clients or self.closed:
                return
            self._close_locked()

    def invalidate(self) -> None:
        """The port failed: close it for every client; the next :func:`open_line` opens a new one."""
        with _registry_lock, self._cond:
            if not self.closed:
                self._close_locked()

    def _close_locked(self) -> None:
        self.closed = True
        if _registry.get(self.key) is self:
            del _registry[self.key]
        self._cond.notify_all()
        with contextlib.suppress(Exception):  # closing a broken port must stay quiet
            self._closer(self.handle)


def open_line(
    port: str, client: str, opener: Callable[[], T], closer: Callable[[T], None], clock: Clock
) -> SharedLine[T]:
    """The process's line for ``port``, opened with ``opener()`` if no instance has it open yet.

    ``client`` is the calling instance's name (e.g. ``pack2``); call :meth:`SharedLine.release` with
    it on close. :raises: whatever ``opener`` raises (the plugin maps it to SourceUnavailable).
    """
    key = line_key(port)
    with _registry_lock:
        line = _registry.get(key)
        if line is None or line.closed:
            line = SharedLine(key, opener(), closer, clock)  # type: ignore[arg-type]
            _registry[key] = line
        line._clients.add(client)
        return line  # type: ignore[return-value]
