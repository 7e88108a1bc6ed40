"""One plugin object with I/O (a source or a sink): open it, and reopen it with backoff when lost.

Logs once when the link drops and once when it returns, never once per cycle.
"""

from __future__ import annotations

import logging
from typing import Protocol

from .backoff import Backoff
from .clock import Clock


class Closable(Protocol):
    """Anything with ``open()`` and ``close()``."""

    def open(self) -> None: ...

    def close(self) -> None: ...


class Link:
    """Tracks whether ``target`` is open, and when the next reopen is due."""

    def __init__(
        self, role: str, name: str, target: Closable, clock: Clock, log: logging.Logger, backoff: Backoff
    ) -> None:
        self.role = role
        self.name = name
        self.target = target
        self._clock = clock
        self._log = log
        self._backoff = backoff
        self._open = False
        self._retry_at_s = 0.0
        self._down_since_s: float | None = None
        self.failures = 0

    @property
    def is_open(self) -> bool:
        """True while the target is open and believed healthy."""
        return self._open

    @property
    def retry_in_s(self) -> float:
        """Seconds until the next reopen attempt (0 when due or open)."""
        return max(0.0, self._retry_at_s - self._clock.now()) if not self._open else 0.0

    def ensure_open(self, *, ignore_backoff: bool = False) -> bool:
        """Open the target if it is closed and its backoff has passed; True when it is open."""
        if self._open:
            return True
        if self._clock.now() < self._retry_at_s and not ignore_backoff:
            return False
        try:
            self.target.open()
        except Exception as exc:
            self.lost(exc)
            return False
        self._open = True
        return True

    def lost(self, exc: BaseException) -> None:
        """The link failed: close it and schedule a reopen after the next backoff delay."""
        self.failures += 1
        self._close_quietly()
        delay = self._backoff.next_delay()
        now = self._clock.now()
        self._retry_at_s = now + delay
        if self._down_since_s is None:
            self._down_since_s = now
            self._log.warning("%s '%s' lost: %s; reopening with backoff", self.role, self.name, _text(exc))
        else:
            self._log.debug(
                "%s '%s' still down: %s; next try in %.0f s", self.role, self.name, _text(exc), delay
            )

    def worked(self) -> None:
        """A read or publish succeeded: reset the backoff and log the recovery once."""
        if self._down_since_s is not None:
            down_s = self._clock.now() - self._down_since_s
            self._log.warning("%s '%s' is back after %.1f s", self.role, self.name, down_s)
            self._down_since_s = None
        self._backoff.reset()

    def close(self) -> None:
        """Close the target for good."""
        self._close_quietly()

    def _close_quietly(self) -> None:
        self._open = False
        try:
            self.target.close()
        except Exception as exc:  # close() must be idempotent and quiet; a broken one is only logged
            self._log.debug("%s '%s' close() raised: %s", self.role, self.name, _text(exc))


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
