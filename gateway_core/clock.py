"""Time, injected: the engine and plugins read a monotonic clock and never ``time`` directly.

A Raspberry Pi has no real-time clock, so its wall clock jumps when NTP syncs; every deadline,
age and schedule in the gateway therefore uses :class:`Clock`.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic clock that can also wait; tests inject one whose ``sleep`` advances time."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (or less, if :meth:`wake` is called)."""
        ...

    def wake(self) -> None:
        """End a pending :meth:`sleep` early (used on SIGTERM)."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and an interruptible sleep."""

    def __init__(self) -> None:
        self._woken = threading.Event()

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or until :meth:`wake` is called."""
        if seconds > 0 and self._woken.wait(seconds):
            self._woken.clear()

    def wake(self) -> None:
        """End a pending sleep early."""
        self._woken.set()
