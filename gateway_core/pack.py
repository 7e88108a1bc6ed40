"""One source of the gateway (a pack): its link, its policy, its lane and what it last read.

The lane job reads the source, checks the reading (plausibility, the pinned cell count, its age)
and lets the pack's own policy decide on it. A pack is *offline* when it has no plausible reading
newer than ``stale_after``; the engine then decides what that means for the bank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .backoff import Backoff
from .clock import Clock
from .errors import ImplausibleReply, SourceUnavailable
from .lane import InlineLane, Lane
from .link import Link
from .model import BatteryReading, Fault, GatewayState, Limits, Problem
from .plausibility import implausibility
from .roles import BmsSource, LimitPolicy

log = logging.getLogger("gateway.engine")


@dataclass(frozen=True, slots=True)
class PackSpec:
    """What the engine needs to run one pack; ``cells`` pins the cell count (0: learn it)."""

    name: str
    plugin: str
    source: BmsSource
    policy: LimitPolicy
    policy_name: str = ""
    lane: Lane | None = None
    cells: int = 0


@dataclass(frozen=True, slots=True)
class PackDecision:
    """What one pack's lane job produced.

    ``reading`` is the plausible, fresh reading the limits rest on (``None`` while offline);
    ``limits`` the pack policy's decision, or stop limits carrying the ``fault`` that took it offline;
    ``decided_at_s`` when the job finished, on the clock.
    """

    reading: BatteryReading | None
    limits: Limits
    problems: tuple[Problem, ...]
    decided_at_s: float

    @property
    def online(self) -> bool:
        """True when the pack counts: a fresh plausible reading and a policy decision."""
        return self.reading is not None and self.limits.fault is None


class Pack:
    """Runs one source's lane job and keeps its last good reading and pinned cell count."""

    def __init__(self, spec: PackSpec, *, clock: Clock, stale_after_s: float, backoff: Backoff) -> None:
        self.spec = spec
        self.name = spec.name
        self.lane: Lane = spec.lane if spec.lane is not None else InlineLane(clock)
        self.link = Link("source", spec.name, spec.source, clock, log, backoff)
        self._clock = clock
        self._stale_after_s = stale_after_s
        self._cells = spec.cells or None
        self._cells_warned = False
        self._last_good: BatteryReading | None = None
        self._last_problem = ""
        self.state: GatewayState | None = None  # set by the engine before each job

    def job(self) -> PackDecision:
        """Read, check and decide for this pack (runs in the pack's lane)."""
        problems: list[Problem] = []
        reading = self._read(problems)
        now = self._clock.now()
        if reading is not None:
            why = _implausible(reading, now) or self._pin(reading)
            if why is not None:
                return self._implausible_now(why, problems)
            self._last_good = reading
        elif self._last_problem.startswith("implausible reply"):
            return self._implausible_now(self._last_problem.removeprefix("implausible reply: "), problems)
        good = self._last_good
        if good is None:
            reason = f"no reading: {self._last_problem}" if self._last_problem else "no reading yet"
            return self._offline(reason, Fault.NO_READING, problems)
        age = now - good.taken_at_s
        if age > self._stale_after_s:
            reason = f"reading is {age:.1f} s old (stale after {self._stale_after_s:g} s)"
            if self._last_problem:
                reason += f": {self._last_problem}"
            return self._offline(reason, Fault.STALE_READING, problems)
        return self._decide(good, problems)

    def _decide(self, good: BatteryReading, problems: list[Problem]) -> PackDecision:
        state = self.state or GatewayState(now_s=self._clock.now(), cycle=0)
        policy = self.spec.policy_name or "policy"
        try:
            limits = self.spec.policy.decide(good, state)
            if not isinstance(limits, Limits):
                raise TypeError(f"decide() returned {type(limits).__name__}, not Limits")
            if limits.fault is not None:
                raise TypeError("decide() returned stop limits with a fault; only the fail-safe sets one")
        except BaseException as exc:  # even SystemExit from a plugin must fail safe, not end the loop
            message = f"policy '{policy}' failed: {exc or type(exc).__name__}"
            problems.append(Problem("policy", policy, message))
            stop = Limits.stop(message, Fault.POLICY_ERROR)
            return PackDecision(good, stop, tuple(problems), self._clock.now())
        return PackDecision(good, limits, tuple(problems), self._clock.now())

    def _offline(self, reason: str, fault: Fault, problems: list[Problem]) -> PackDecision:
        return PackDecision(None, Limits.stop(reason, fault), tuple(problems), self._clock.now())

    def _implausible_now(self, why: str, problems: list[Problem]) -> PackDecision:
        self._last_good = None
        message = f"implausible reading: {why}"
        problems.append(Problem("source", self.name, message))
        return self._offline(message, Fault.IMPLAUSIBLE_READING, problems)

    def _pin(self, reading: BatteryReading) -> str | None:
        """Pin the cell count on the first plausible reading; another count is implausible."""
        count = reading.cell_count
        if self._cells is None:
            self._cells = count
            log.info(
                "source '%s': %d cells; a reading with another count is refused until restart",
                self.name,
                count,
            )
            return None
        if count == self._cells:
            self._cells_warned = False
            return None
        if not self._cells_warned:
            self._cells_warned = True
            log.warning(
                "source '%s' reported %d cells, but the pack has %d: refused (a pack cannot change its "
                "cell count; check the BMS and its wiring)",
                self.name,
                count,
                self._cells,
            )
        return f"{count} cells, but the pack has {self._cells} (pinned)"

    def _read(self, problems: list[Problem]) -> BatteryReading | None:
        if not self.link.ensure_open():
            message = f"source '{self.name}' unavailable; next try in {self.link.retry_in_s:.0f} s"
            self._last_problem = message
            problems.append(Problem("source", self.name, message))
            return None
        try:
            reading = self.spec.source.read()
            if not isinstance(reading, BatteryReading):
                raise TypeError(f"read() returned {type(reading).__name__}, not BatteryReading")
        except ImplausibleReply as exc:
            self._problem(problems, exc, prefix="implausible reply: ")
            return None
        except SourceUnavailable as exc:
            self.link.lost(exc)
            self._problem(problems, exc)
            return None
        except BaseException as exc:  # a plugin's SystemExit or CancelledError fails safe too
            self._problem(problems, exc)
            return None
        self.link.worked()
        self._last_problem = ""
        return reading

    def _problem(self, problems: list[Problem], exc: BaseException, prefix: str = "") -> None:
        text = str(exc) or type(exc).__name__
        message = prefix + (text if prefix else f"{type(exc).__name__}: {text}" if str(exc) else text)
        if message != self._last_problem:
            log.debug("source '%s': %s", self.name, message)
        self._last_problem = message
        if not prefix:
            problems.append(Problem("source", self.name, message))


def _implausible(reading: BatteryReading, now: float) -> str | None:
    if reading.taken_at_s > now + 1e-6:
        return f"taken at {reading.taken_at_s:.3f} s, after now ({now:.3f} s): not from the gateway's clock"
    return implausibility(reading)
