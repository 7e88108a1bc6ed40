"""One cycle of the gateway, with the fail-safe; no threads and no sleeping here.

A cycle starts every pack's lane job (read, check, decide on that pack's reading), collects them
against the cycle's deadline, combines the online packs into the bank's reading and limits, lets the
adjusters lower them and publishes to every sink. Stop limits replace the limits whenever fewer
than ``min_sources`` packs are online (no valid reading newer than ``stale_after``, an implausible
reading, a late lane), a policy fails, or the decision is too old by the time it would be sent; the
old limits are never repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .backoff import Backoff
from .bank import PackLimits, combine_limits, combine_readings
from .clock import Clock
from .lane import Lane, LaneOutcome
from .link import Link
from .model import (
    BatteryReading,
    CycleResult,
    Fault,
    GatewayState,
    Limits,
    MeterReading,
    PackResult,
    Problem,
    PublishReport,
    SinkResult,
)
from .pack import Pack, PackDecision, PackSpec
from .roles import BmsSource, GridMeter, InverterSink, LimitPolicy

log = logging.getLogger("gateway.engine")

#: Share of the period the sources and policies may take before their packs count as late.
LANE_SHARE = 0.8

#: What the policy sees as ``previous`` after a failed publish: the inverter got nothing.
NOT_PUBLISHED = Limits(0.0, 0.0, reasons=("sink could not publish",))

#: Lowers the limits (the ``gateway_adjust_limits`` hook); returns the lowered limits.
Adjuster = Callable[[Limits, BatteryReading, GatewayState], Limits]


@dataclass(frozen=True, slots=True)
class PluginNames:
    """Which plugins fill the three roles, for logs and results."""

    source: str
    policy: str
    sink: str


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """One sink of the engine: its instance name, its plugin and the object."""

    name: str
    plugin: str
    sink: InverterSink


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """The grid meter: its instance name and the object."""

    name: str
    meter: GridMeter


class _SinkChannel:
    def __init__(self, spec: SinkSpec, clock: Clock, backoff: Backoff) -> None:
        self.spec = spec
        self.link = Link("sink", spec.name, spec.sink, clock, log, backoff)


class Engine:
    """Runs cycles: packs -> bank -> adjusters -> sinks, failing safe at each step.

    ``source``/``policy``/``sink`` may be single objects (one pack, one sink: ``names`` names them) or,
    for a bank, ``source`` a sequence of :class:`PackSpec` (``policy`` then ``None``) and ``sink`` a
    sequence of :class:`SinkSpec`.
    """

    def __init__(
        self,
        source: BmsSource | Sequence[PackSpec],
        policy: LimitPolicy | None,
        sink: InverterSink | Sequence[SinkSpec],
        *,
        names: PluginNames,
        clock: Clock,
        period_s: float = 1.0,
        stale_after_s: float = 5.0,
        lane: Lane | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        adjust: Adjuster | None = None,
        min_sources: int = 0,
        bank_current: str = "weakest",
        meter: MeterSpec | None = None,
        meter_stale_after_s: float = 10.0,
    ) -> None:
        self.names = names
        if isinstance(source, Sequence):
            specs = list(source)
        else:
            if policy is None:
                raise ValueError("Engine: a single source needs a policy")
            specs = [PackSpec(names.source, names.source, source, policy, names.policy, lane)]
        sinks = list(sink) if isinstance(sink, Sequence) else [SinkSpec(names.sink, names.sink, sink)]
        self._packs = [Pack(s, clock=clock, stale_after_s=stale_after_s, backoff=backoff()) for s in specs]
        self._sinks = [_SinkChannel(s, clock, backoff()) for s in sinks]
        self._adjust = adjust
        self._clock = clock
        self._period_s = period_s
        self._stale_after_s = stale_after_s
        self._required = min_sources or len(self._packs)
        self._bank_current = bank_current
        self._meter = meter
        self._meter_link = Link("meter", meter.name, meter.meter, clock, log, backoff()) if meter else None
        self._meter_stale_after_s = meter_stale_after_s
        self._meter_failed = False
        self._previous: Limits | None = None
        self._logged: Limits | None = None
        self._cycle = 0
        self._peer_seen_at_s: float | None = None
        self._was_failsafe: bool | None = None
        self._offline: set[str] = set()

    @property
    def sources(self) -> tuple[BmsSource, ...]:
        """The source objects, one per pack (e.g. for a view of what their parsers dropped)."""
        return tuple(pack.spec.source for pack in self._packs)

    @property
    def deadline_s(self) -> float:
        """How long the packs' jobs may take in a cycle, and how old a decision may be when sent."""
        return LANE_SHARE * self._period_s

    def start(self) -> None:
        """Open the sources, sinks and meter; a failure here is retried with backoff, not fatal."""
        for pack in self._packs:
            pack.link.ensure_open()
        for channel in self._sinks:
            channel.link.ensure_open()
        if self._meter_link is not None:
            self._meter_link.ensure_open()

    def cycle(self) -> CycleResult:
        """Run one cycle and return its result (never raises for plugin failures)."""
        started = self._clock.now()
        self._cycle += 1
        meter, meter_age = self._read_meter(started)
        decisions = self._run_packs(started, meter, meter_age)
        reading, limits, problems = self._combine(decisions)
        if reading is not None and self._adjust is not None and limits.fault is None:
            limits, problems = self._adjusted(reading, limits, problems, started, meter, meter_age)
        self._note_state(limits)
        decided = [d.decided_at_s for _, d in decisions if d.online]
        sinks = self._publish(reading, limits, min(decided) if decided else started)
        return self._result(started, reading, limits, problems, decisions, sinks, meter, meter_age)

    def shutdown(self, reason: str = "shutting down") -> CycleResult:
        """Publish stop limits once (reopening each sink once if it is down), then close everything.

        Returns the result of that last publish, for the observers.
        """
        log.info("stopping: publishing stop limits once")
        started = self._clock.now()
        limits = Limits.stop(reason, Fault.SHUTDOWN)
        for channel in self._sinks:
            channel.link.ensure_open(ignore_backoff=True)
        sinks = self._publish(None, limits, None)
        for channel in self._sinks:
            channel.link.close()
        for pack in self._packs:
            pack.link.close()
            pack.lane.close()
            _close_quietly(pack.spec.policy)
        if self._meter_link is not None:
            self._meter_link.close()
        return self._result(started, None, limits, (), [], sinks, None, None, cycle=self._cycle + 1)

    # -- packs and the bank -------------------------------------------------------------------

    def _run_packs(
        self, started: float, meter: MeterReading | None, meter_age: float | None
    ) -> list[tuple[Pack, PackDecision]]:
        tickets = []
        for pack in self._packs:
            pack.state = GatewayState(
                now_s=started,
                cycle=self._cycle,
                previous=self._previous,
                meter=meter,
                meter_age_s=meter_age,
                pack=pack.name,
            )
            tickets.append((pack, pack.lane.start(pack.job)))
        decisions = []
        for pack, ticket in tickets:
            outcome: LaneOutcome[PackDecision] = pack.lane.result(ticket, self.deadline_s)
            decision = outcome.value
            if decision is None:
                reason = f"{pack.name}: {outcome.problem or 'source/policy gave no result'}"
                stop = Limits.stop(reason, Fault.TIMEOUT)
                decision = PackDecision(None, stop, (Problem("engine", "lane", reason),), self._clock.now())
            decisions.append((pack, decision))
        return decisions

    def _combine(
        self, decisions: list[tuple[Pack, PackDecision]]
    ) -> tuple[BatteryReading | None, Limits, tuple[Problem, ...]]:
        problems = tuple(p for _, d in decisions for p in d.problems)
        self._log_packs(decisions)
        if len(decisions) == 1:
            decision = decisions[0][1]
            return decision.reading, decision.limits, problems
        failed = [(p, d) for p, d in decisions if d.limits.fault is Fault.POLICY_ERROR]
        if failed:
            pack, decision = failed[0]
            reason = f"{pack.name}: {'; '.join(decision.limits.reasons)}"
            return None, Limits.stop(reason, Fault.POLICY_ERROR), problems
        online = [PackLimits(p.name, d.reading, d.limits) for p, d in decisions if d.online and d.reading]
        if len(online) < self._required:
            offline = [(p, d) for p, d in decisions if not d.online]
            missing = "; ".join(f"{p.name} ({'; '.join(d.limits.reasons)})" for p, d in offline)
            fault = offline[0][1].limits.fault or Fault.NO_READING
            reason = (
                f"{len(online)} of {len(decisions)} packs online, {self._required} needed; offline: {missing}"
            )
            return None, Limits.stop(reason, fault), problems
        return combine_readings(online), combine_limits(online, self._bank_current, len(decisions)), problems

    def _log_packs(self, decisions: list[tuple[Pack, PackDecision]]) -> None:
        if len(decisions) == 1:
            return
        for pack, decision in decisions:
            if not decision.online and pack.name not in self._offline:
                self._offline.add(pack.name)
                log.warning("pack '%s' offline: %s", pack.name, "; ".join(decision.limits.reasons))
            elif decision.online and pack.name in self._offline:
                self._offline.discard(pack.name)
                log.warning("pack '%s' is back online", pack.name)

    def _adjusted(
        self,
        reading: BatteryReading,
        limits: Limits,
        problems: tuple[Problem, ...],
        started: float,
        meter: MeterReading | None,
        meter_age: float | None,
    ) -> tuple[Limits, tuple[Problem, ...]]:
        assert self._adjust is not None
        state = GatewayState(
            now_s=started, cycle=self._cycle, previous=self._previous, meter=meter, meter_age_s=meter_age
        )
        try:
            return self._adjust(limits, reading, state), problems
        except BaseException as exc:  # an adjuster's failure fails safe
            message = f"policy '{self.names.policy}' failed: {exc or type(exc).__name__}"
            return Limits.stop(message, Fault.POLICY_ERROR), (*problems, Problem("policy", "adjust", message))

    def _read_meter(self, now: float) -> tuple[MeterReading | None, float | None]:
        if self._meter is None or self._meter_link is None or not self._meter_link.ensure_open():
            return None, None
        try:
            value = self._meter.meter.latest()
            if value is not None and not isinstance(value, MeterReading):
                raise TypeError(f"latest() returned {type(value).__name__}, not MeterReading")
        except Exception as exc:
            if not self._meter_failed:
                log.warning("meter '%s' failed: %s (logged once)", self._meter.name, exc)
            self._meter_failed = True
            return None, None
        self._meter_failed = False
        if value is None:
            return None, None
        age = now - value.taken_at_s
        if age > self._meter_stale_after_s or age < -1e-6:
            return None, None
        return value, max(0.0, age)

    # -- the sinks ----------------------------------------------------------------------------

    def _publish(
        self, reading: BatteryReading | None, limits: Limits, decided_at: float | None
    ) -> list[SinkResult]:
        results: list[SinkResult] = []
        any_published = False
        for channel in self._sinks:
            if decided_at is not None and limits.fault is None:
                limits, reading = self._still_fresh(reading, limits, decided_at)
            result = self._publish_one(channel, reading, limits)
            any_published = any_published or result.published
            results.append(result)
        self._previous = limits if any_published else NOT_PUBLISHED
        return results

    def _still_fresh(
        self, reading: BatteryReading | None, limits: Limits, decided_at: float
    ) -> tuple[Limits, BatteryReading | None]:
        """Stop limits instead of a decision that has grown too old to send (a frozen process)."""
        now = self._clock.now()
        age = now - decided_at
        if age > self.deadline_s:
            reason = f"decision is {age:.2f} s old at send time (limit {self.deadline_s:.2f} s)"
            log.warning("fail-safe at send time: %s; stop limits instead", reason)
            return Limits.stop(reason, Fault.TIMEOUT), None
        if reading is not None and now - reading.taken_at_s > self._stale_after_s:
            reason = f"reading is {now - reading.taken_at_s:.1f} s old at send time"
            log.warning("fail-safe at send time: %s; stop limits instead", reason)
            return Limits.stop(reason, Fault.STALE_READING), None
        return limits, reading

    def _publish_one(
        self, channel: _SinkChannel, reading: BatteryReading | None, limits: Limits
    ) -> SinkResult:
        name, plugin = channel.spec.name, channel.spec.plugin
        if not channel.link.ensure_open():
            message = f"sink '{name}' unavailable; next try in {channel.link.retry_in_s:.0f} s"
            return SinkResult(name, plugin, False, None, (Problem("sink", name, message),))
        try:
            report = channel.spec.sink.publish(reading, limits)
        except BaseException as exc:  # a plugin's SystemExit or CancelledError fails safe too
            channel.link.lost(exc)
            return SinkResult(
                name, plugin, False, None, (Problem("sink", name, f"{type(exc).__name__}: {exc}"),)
            )
        channel.link.worked()
        if not isinstance(report, PublishReport):
            return SinkResult(name, plugin, True, None)
        if report.peer_seen_at_s is not None:
            seen = self._peer_seen_at_s
            self._peer_seen_at_s = report.peer_seen_at_s if seen is None else max(seen, report.peer_seen_at_s)
        problems = tuple(Problem("sink", name, text) for text in report.problems)
        return SinkResult(name, plugin, True, report, problems)

    # -- results and logs ---------------------------------------------------------------------

    def _result(
        self,
        started: float,
        reading: BatteryReading | None,
        limits: Limits,
        problems: tuple[Problem, ...],
        decisions: list[tuple[Pack, PackDecision]],
        sinks: list[SinkResult],
        meter: MeterReading | None,
        meter_age: float | None,
        *,
        cycle: int | None = None,
    ) -> CycleResult:
        packs = tuple(
            PackResult(
                p.name,
                p.spec.plugin,
                d.online,
                d.reading,
                d.limits,
                d.problems,
            )
            for p, d in decisions
        )
        return CycleResult(
            cycle=self._cycle if cycle is None else cycle,
            started_at_s=started,
            reading=reading,
            limits=limits,
            published=bool(sinks) and all(s.published for s in sinks),
            problems=problems + tuple(p for s in sinks for p in s.problems),
            peer_seen_at_s=self._peer_seen_at_s,
            duration_s=self._clock.now() - started,
            source=",".join(p.name for p in self._packs),
            policy=self.names.policy,
            sink=",".join(c.spec.name for c in self._sinks),
            packs=packs,
            sinks=tuple(sinks),
            meter=meter,
            meter_age_s=meter_age,
        )

    def _note_state(self, limits: Limits) -> None:
        """Log fail-safe engaged/released and limit changes, once per change of the limits."""
        failsafe = limits.fault is not None
        if failsafe != self._was_failsafe:
            if failsafe:
                log.warning("fail-safe: stop limits (%s)", "; ".join(limits.reasons))
            elif self._was_failsafe is not None:
                log.warning("fail-safe released: %s", limits.summary())
        if not failsafe and (self._logged is None or _values(self._logged) != _values(limits)):
            log.info("limits: %s; %s", limits.summary(), "; ".join(limits.reasons) or "no reason given")
        self._logged = None if failsafe else limits
        self._was_failsafe = failsafe


def _close_quietly(obj: object) -> None:
    """Call ``obj.close()`` if it has one (a policy flushing its saved memory); never raises."""
    close = getattr(obj, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception as exc:
        log.warning("close() of %s failed: %s", type(obj).__name__, exc)


def _values(limits: Limits) -> tuple[object, ...]:
    return (
        limits.charge_current_a,
        limits.discharge_current_a,
        limits.charge_voltage_v,
        limits.discharge_voltage_v,
        limits.flags,
    )
