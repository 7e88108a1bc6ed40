"""Where a source is read and its policy runs: inline (tests) or on a worker thread (production).

A job gets a deadline (0.8 x period from the cycle's start). A job that overruns it is abandoned:
its pack has no decision that cycle, and while it still runs the lane reports itself busy, so a hung
source never delays a frame nor runs twice at once. A bank has one lane per pack: every pack's job
is started first (:meth:`Lane.start`), then all are collected against the same deadline.
"""

from __future__ import annotations

import queue
import threading
import time
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


class Ticket:
    """A started job: its value or error once done, and when it started."""

    __slots__ = ("busy", "done", "error", "fn", "started_s", "took_s", "value")

    def __init__(
        self, fn: Callable[[], object], started_s: float, *, busy: bool = False, threaded: bool = False
    ) -> None:
        self.fn = fn
        self.started_s = started_s
        self.busy = busy
        self.value: object = None
        self.error: BaseException | None = None
        self.took_s = 0.0
        self.done: threading.Event | None = threading.Event() if threaded else None

    def execute(self) -> None:
        """Run the job, keeping its value or error; never raises."""
        try:
            self.value = self.fn()
        except BaseException as exc:  # handed to result(); a worker must survive anything
            self.error = exc
        finally:
            if self.done is not None:
                self.done.set()


class Lane(Protocol):
    """Runs lane jobs with a deadline."""

    def start(self, job: Callable[[], T]) -> Ticket:
        """Start ``job`` (inline: run it now); collect it with :meth:`result`."""
        ...

    def result(self, ticket: Ticket, deadline_s: float) -> LaneOutcome[T]:
        """The job's value, or ``LaneOutcome(None, why)`` when it was late or the lane busy.

        :raises BaseException: whatever the job raised.
        """
        ...

    def run(self, job: Callable[[], T], deadline_s: float) -> LaneOutcome[T]:
        """Start ``job`` and collect it."""
        ...

    def close(self) -> None:
        """Release the lane's thread, if any."""
        ...


def _outcome(ticket: Ticket, late: str | None) -> LaneOutcome[T]:
    if ticket.busy:
        return LaneOutcome(None, "source/policy busy: the previous read has not returned")
    if late is not None:
        return LaneOutcome(None, late)
    if ticket.error is not None:
        raise ticket.error
    return LaneOutcome(ticket.value)  # type: ignore[arg-type]


class InlineLane:
    """Runs the job on the caller's thread; a job that took longer than the deadline counts as late."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def start(self, job: Callable[[], T]) -> Ticket:
        """Run ``job`` now and time it on the clock."""
        ticket = Ticket(job, self._clock.now())
        ticket.execute()
        ticket.took_s = self._clock.now() - ticket.started_s
        return ticket

    def result(self, ticket: Ticket, deadline_s: float) -> LaneOutcome[T]:
        """The value; dropped when the job ran past ``deadline_s`` on the clock."""
        late = None
        if ticket.took_s > deadline_s:
            late = f"source/policy took {ticket.took_s:.2f} s (deadline {deadline_s:.2f} s)"
        return _outcome(ticket, late)

    def run(self, job: Callable[[], T], deadline_s: float) -> LaneOutcome[T]:
        """Run ``job`` now; its value is dropped when it ran past ``deadline_s`` on the clock."""
        return self.result(self.start(job), deadline_s)

    def close(self) -> None:
        """Nothing to release."""


class ThreadLane:
    """Runs each job on one long-lived daemon worker thread and waits at most the deadline for it.

    The worker is a daemon thread, so a job that hangs for ever (a stuck driver) never keeps the
    process from exiting after the shutdown's stop limits went out.
    """

    def __init__(self, name: str = "gateway-lane") -> None:
        self._jobs: queue.SimpleQueue[Ticket | None] = queue.SimpleQueue()
        self._pending: Ticket | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def start(self, job: Callable[[], T]) -> Ticket:
        """Hand ``job`` to the worker, unless an abandoned job still runs (then the ticket is busy)."""
        pending = self._pending
        if pending is not None and pending.done is not None and not pending.done.is_set():
            return Ticket(job, time.monotonic(), busy=True)
        ticket = self._pending = Ticket(job, time.monotonic(), threaded=True)
        self._jobs.put(ticket)
        return ticket

    def result(self, ticket: Ticket, deadline_s: float) -> LaneOutcome[T]:
        """Wait until ``deadline_s`` after the job started; ``late`` on overrun."""
        if ticket.busy:
            return _outcome(ticket, None)
        remaining = ticket.started_s + deadline_s - time.monotonic()
        if ticket.done is None or not ticket.done.wait(max(0.0, remaining)):
            return _outcome(ticket, f"source/policy late: no result within {deadline_s:.2f} s")
        return _outcome(ticket, None)

    def run(self, job: Callable[[], T], deadline_s: float) -> LaneOutcome[T]:
        """Run ``job`` on the worker; ``busy`` if an abandoned job still runs, ``late`` on overrun."""
        return self.result(self.start(job), deadline_s)

    def close(self) -> None:
        """Let the worker end once its current job returns; never waits for it."""
        self._jobs.put(None)

    def _work(self) -> None:
        while (ticket := self._jobs.get()) is not None:
            ticket.execute()
