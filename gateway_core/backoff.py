"""Exponential backoff for reopening a lost link (1, 2, 4 ... 30 s), on the injected clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """Delays between reopen attempts: ``initial_s`` doubling up to ``maximum_s``."""

    initial_s: float = 1.0
    maximum_s: float = 30.0
    factor: float = 2.0
    _next_s: float = 0.0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the following one."""
        delay = self._next_s or self.initial_s
        self._next_s = min(delay * self.factor, self.maximum_s)
        return delay

    def reset(self) -> None:
        """Start again from ``initial_s`` (after a success)."""
        self._next_s = 0.0
