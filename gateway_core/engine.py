"""One cycle of the gateway, with the fail-safe; no threads and no sleeping here.

A cycle reads the source and lets the policy decide (in the lane), then publishes with the sink.
Stop limits replace the policy's whenever no valid reading is newer than ``stale_after``, the
reading is implausible, the policy fails or the lane is late; the old limits are never repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .backoff import Backoff
from .clock import Clock
from .errors import SourceUnavailable
from .lane import InlineLane, Lane, LaneOutcome
from .link import Link
from .model import BatteryReading, CycleResult, Fault, GatewayState, Limits, Problem, PublishReport
from .plausibility import implausibility
from .roles import BmsSource, InverterSink, LimitPolicy

log = logging.getLogger("gateway.engine")

#: Share of the period the source and policy may take before the cycle falls back to stop limits.
LANE_SHARE = 0.8


#: What the policy sees as ``previous`` after a failed publish: the inverter got nothing.
NOT_PUBLISHED = Limits(0.0, 0.0, reasons=("sink could not publish",))

#: Lowers the policy's limits (the ``gateway_adjust_limits`` hook); returns the lowered limits.
Adjuster = Callable[[Limits, BatteryReading, GatewayState], Limits]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the lane produced: the reading the limits rest on (or None), the limits, the problems."""

    reading: BatteryReading | None
    limits: Limits
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class PluginNames:
    """Which plugins fill the three roles, for logs and results."""

    source: str
    policy: str
    sink: str


class Engine:
    """Runs cycles: source -> plausibility -> staleness -> policy -> sink, failing safe at each step."""

    def __init__(
        self,
        source: BmsSource,
        policy: LimitPolicy,
        sink: InverterSink,
        *,
        names: PluginNames,
        clock: Clock,
        period_s: float = 1.0,
        stale_after_s: float = 5.0,
        lane: Lane | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        adjust: Adjuster | None = None,
    ) -> None:
        self.names = names
        self._policy = policy
        self._adjust = adjust
        self._clock = clock
        self._period_s = period_s
        self._stale_after_s = stale_after_s
        self._lane: Lane = lane if lane is not None else InlineLane(clock)
        self._source = Link("source", names.source, source, clock, log, backoff())
        self._sink = Link("sink", names.sink, sink, clock, log, backoff())
        self._source_obj = source
        self._sink_obj = sink
        self._last_good: BatteryReading | None = None
        self._last_source_problem = ""
        self._previous: Limits | None = None
        self._cycle = 0
        self._peer_seen_at_s: float | None = None
        self._was_failsafe: bool | None = None

    def start(self) -> None:
        """Open the source and the sink; a failure here is retried with backoff, not fatal."""
        self._source.ensure_open()
        self._sink.ensure_open()

    def cycle(self) -> CycleResult:
        """Run one cycle and return its result (never raises for plugin failures)."""
        started = self._clock.now()
        self._cycle += 1
        outcome: LaneOutcome[Decision] = self._lane.run(self._decide, LANE_SHARE * self._period_s)
        if outcome.value is None:
            reason = outcome.problem or "source/policy gave no result"
            decision = Decision(
                None, Limits.stop(reason, Fault.TIMEOUT), (Problem("engine", "lane", reason),)
            )
        else:
            decision = outcome.value
        self._note_state(decision.limits)
        published, problems = self._publish(decision.reading, decision.limits)
        return CycleResult(
            cycle=self._cycle,
            started_at_s=started,
            reading=decision.reading,
            limits=decision.limits,
            published=published,
            problems=decision.problems + problems,
            peer_seen_at_s=self._peer_seen_at_s,
            duration_s=self._clock.now() - started,
            source=self.names.source,
            policy=self.names.policy,
            sink=self.names.sink,
        )

    def shutdown(self, reason: str = "shutting down") -> CycleResult:
        """Publish stop limits once (reopening the sink once if it is down), then close everything.

        Returns the result of that last publish, for the observers.
        """
        log.info("stopping: publishing stop limits once")
        started = self._clock.now()
        limits = Limits.stop(reason, Fault.SHUTDOWN)
        self._sink.ensure_open(ignore_backoff=True)
        published, problems = self._publish(None, limits)
        self._sink.close()
        self._source.close()
        self._lane.close()
        return CycleResult(
            cycle=self._cycle + 1,
            started_at_s=started,
            reading=None,
            limits=limits,
            published=published,
            problems=problems,
            peer_seen_at_s=self._peer_seen_at_s,
            duration_s=self._clock.now() - started,
            source=self.names.source,
            policy=self.names.policy,
            sink=self.names.sink,
        )

    # -- the lane job -------------------------------------------------------------------------

    def _decide(self) -> Decision:
        problems: list[Problem] = []
        reading = self._read(problems)
        now = self._clock.now()
        if reading is not None:
            why = _implausible(reading, now)
            if why is not None:
                self._last_good = None
                problems.append(Problem("source", self.names.source, f"implausible reading: {why}"))
                return Decision(
                    None,
                    Limits.stop(f"implausible reading: {why}", Fault.IMPLAUSIBLE_READING),
                    tuple(problems),
                )
            self._last_good = reading
        good = self._last_good
        if good is None:
            reason = (
                "no reading yet"
                if not self._last_source_problem
                else f"no reading: {self._last_source_problem}"
            )
            return Decision(None, Limits.stop(reason, Fault.NO_READING), tuple(problems))
        age = now - good.taken_at_s
        if age > self._stale_after_s:
            reason = f"reading is {age:.1f} s old (stale after {self._stale_after_s:g} s)"
            if self._last_source_problem:
                reason += f": {self._last_source_problem}"
            return Decision(None, Limits.stop(reason, Fault.STALE_READING), tuple(problems))
        state = GatewayState(now_s=now, cycle=self._cycle, previous=self._previous)
        try:
            limits = self._policy.decide(good, state)
            if not isinstance(limits, Limits):
                raise TypeError(f"decide() returned {type(limits).__name__}, not Limits")
            if self._adjust is not None:
                limits = self._adjust(limits, good, state)
        except BaseException as exc:  # even SystemExit from a plugin must fail safe, not end the loop
            message = f"policy '{self.names.policy}' failed: {exc or type(exc).__name__}"
            problems.append(Problem("policy", self.names.policy, message))
            return Decision(good, Limits.stop(message, Fault.POLICY_ERROR), tuple(problems))
        return Decision(good, limits, tuple(problems))

    def _read(self, problems: list[Problem]) -> BatteryReading | None:
        if not self._source.ensure_open():
            message = f"source '{self.names.source}' unavailable; next try in {self._source.retry_in_s:.0f} s"
            self._last_source_problem = message
            problems.append(Problem("source", self.names.source, message))
            return None
        try:
            reading = self._source_obj.read()
            if not isinstance(reading, BatteryReading):
                raise TypeError(f"read() returned {type(reading).__name__}, not BatteryReading")
        except SourceUnavailable as exc:
            self._source.lost(exc)
            self._source_problem(problems, exc)
            return None
        except BaseException as exc:  # a plugin's SystemExit or CancelledError fails safe too
            self._source_problem(problems, exc)
            return None
        self._source.worked()
        self._last_source_problem = ""
        return reading

    def _source_problem(self, problems: list[Problem], exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if message != self._last_source_problem:
            log.debug("source '%s': %s", self.names.source, message)
        self._last_source_problem = message
        problems.append(Problem("source", self.names.source, message))

    # -- the loop thread ----------------------------------------------------------------------

    def _publish(self, reading: BatteryReading | None, limits: Limits) -> tuple[bool, tuple[Problem, ...]]:
        if not self._sink.ensure_open():
            message = f"sink '{self.names.sink}' unavailable; next try in {self._sink.retry_in_s:.0f} s"
            self._previous = NOT_PUBLISHED
            return False, (Problem("sink", self.names.sink, message),)
        try:
            report = self._sink_obj.publish(reading, limits)
        except BaseException as exc:  # a plugin's SystemExit or CancelledError fails safe too
            self._sink.lost(exc)
            self._previous = NOT_PUBLISHED
            return False, (Problem("sink", self.names.sink, f"{type(exc).__name__}: {exc}"),)
        self._sink.worked()
        self._previous = limits
        if isinstance(report, PublishReport) and report.peer_seen_at_s is not None:
            self._peer_seen_at_s = report.peer_seen_at_s  # the sink logs when it hears the inverter
        return True, ()

    def _note_state(self, limits: Limits) -> None:
        """Log fail-safe engaged/released and limit changes, once per change."""
        failsafe = limits.fault is not None
        if failsafe != self._was_failsafe:
            if failsafe:
                log.warning("fail-safe: stop limits (%s)", "; ".join(limits.reasons))
            elif self._was_failsafe is not None:
                log.warning("fail-safe released: %s", limits.summary())
        previous = self._previous
        if not failsafe and (previous is None or _values(previous) != _values(limits)):
            log.info("limits: %s; %s", limits.summary(), "; ".join(limits.reasons) or "no reason given")
        self._was_failsafe = failsafe


def _values(limits: Limits) -> tuple[object, ...]:
    return (
        limits.charge_current_a,
        limits.discharge_current_a,
        limits.charge_voltage_v,
        limits.discharge_voltage_v,
        limits.flags,
    )


def _implausible(reading: BatteryReading, now: float) -> str | None:
    if reading.taken_at_s > now + 1e-6:
        return f"taken at {reading.taken_at_s:.3f} s, after now ({now:.3f} s): not from the gateway's clock"
    return implausibility(reading)
