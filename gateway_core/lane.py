"""Where the source read and the policy run: inline (tests) or on one worker thread (production).

A job gets a deadline (0.8 x period). A job that overruns it is abandoned: its cycle publishes stop
limits, and while it is still running the lane reports itself busy, so a hung source never delays
a frame nor runs twice at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .clock import Clock

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LaneOutcome(Generic[T]):
    """A job's value, or why there is none (``late`` or ``busy``)."""

    value: T | None
    problem: str | None = None


class Lane(Protocol):
    """Runs the lane job with a deadline."""

    def run(self, job: Callable[[], T], deadline_s: float) -> LaneOutcome[T]:
        """Run ``job``; a value, or ``LaneOutcome(None, why)`` when it was late or the lane busy."""
        ...

    def close(self) -> None:
        """Release the lane's thread, if any."""
        ...


class InlineLane:
    """Runs the job on the caller's thread; a job that took longer than the deadline counts as late."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def run(self, job: Callable[[], T], deadline_s: float) -> LaneOutcome[T]:
        """Run ``job`` now; its value is dropped when it ran past ``deadline_s`` on the clock."""
        started = self._clock.now()
        value = job()
        took = self._clock.now() - started
        if took > deadline_s:
            return LaneOutcome(None, f"source/policy took {took:.2f} s (deadline {deadline_s:.2f} s)")
        return LaneOutcome(value)

    def close(self) -> None:
        """Nothing to release."""


class ThreadLane:
    """Runs each job on one worker thread and waits at most the deadline for it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-lane")
        self._pending: Future[object] | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[], T], deadline_s: float) -> LaneOutcome[T]:
        """Run ``job`` on the worker; ``busy`` if an abandoned job still runs, ``late`` on overrun."""
        with self._lock:
            if self._pending is not None and not self._pending.done():
                return LaneOutcome(None, "source/policy busy: the previous read has not returned")
            future = self._pool.submit(job)
            self._pending = future  # type: ignore[assignment]
        try:
            return LaneOutcome(future.result(timeout=deadline_s))
        except FutureTimeout:
            return LaneOutcome(None, f"source/policy late: no result within {deadline_s:.2f} s")

    def close(self) -> None:
        """Stop the worker without waiting for an abandoned job."""
        self._pool.shutdown(wait=False, cancel_futures=True)
