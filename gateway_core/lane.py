"""Where the source read and the policy run: inline (tests) or on one worker thread (production).

A job gets a deadline (0.8 x period). A job that overruns it is abandoned: its cycle publishes stop
limits, and while it is still running the lane reports itself busy, so a hung source never delays
a frame nor runs twice at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
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


class _Job:
    """One job handed to the worker: the callable, and its value or error once done."""

    __slots__ = ("done", "error", "fn", "value")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.value: object = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class ThreadLane:
    """Runs each job on one long-lived daemon worker thread and waits at most the deadline for it.

    The worker is a daemon thread, so a job that hangs for ever (a stuck driver) never keeps the
    process from exiting after the shutdown's stop limits went out.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._pending: _Job | None = None
        self._thread = threading.Thread(target=self._work, name="gateway-lane", daemon=True)
        self._thread.start()

    def run(self, job: Callable[[], T], deadline_s: float) -> LaneOutcome[T]:
        """Run ``job`` on the worker; ``busy`` if an abandoned job still runs, ``late`` on overrun.

        :raises BaseException: whatever the job raised (the engine's job catches its plugins' errors).
        """
        if self._pending is not None and not self._pending.done.is_set():
            return LaneOutcome(None, "source/policy busy: the previous read has not returned")
        pending = self._pending = _Job(job)
        self._jobs.put(pending)
        if not pending.done.wait(deadline_s):
            return LaneOutcome(None, f"source/policy late: no result within {deadline_s:.2f} s")
        if pending.error is not None:
            raise pending.error
        return LaneOutcome(pending.value)  # type: ignore[arg-type]

    def close(self) -> None:
        """Let the worker end once its current job returns; never waits for it."""
        self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job.value = job.fn()
            except BaseException as exc:  # handed to run(); the worker must survive anything
                job.error = exc
            finally:
                job.done.set()
