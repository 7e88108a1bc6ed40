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


#: Sleeps up to this long are plain ``time.sleep`` calls, which :meth:`MonotonicClock.wake` does not
#: cut short: a wake then waits at most this long. They are the sink's frame gaps, five per cycle,
#: and an interruptible wait costs about half again as much CPU (a condition variable, a lock and
#: its queue, per call).
SHORT_SLEEP_S = 0.01


class MonotonicClock:
    """The real clock: ``time.monotonic`` and an interruptible sleep."""

    def __init__(self) -> None:
        self._woken = threading.Event()

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or until :meth:`wake` is called (a sleep up to :data:`SHORT_SLEEP_S` ends
        on time)."""
        if seconds <= 0:
            return
        if seconds <= SHORT_SLEEP_S:
            time.sleep(seconds)
        elif self._woken.wait(seconds):
            self._woken.clear()

    def wake(self) -> None:
        """End a pending sleep early."""
        self._woken.set()
