"""Turn cycle results into Prometheus metric families.

The observer thread only folds each :class:`~gateway_core.model.CycleResult` into a small frozen
:class:`MetricsState` (:func:`advance`, a few microseconds); the metric families are built from that
state when someone scrapes or the textfile is written (:func:`families`). So the per-cycle cost is
tiny, and the metrics always describe the latest cycle in one consistent snapshot.

Wall-clock timestamps (``*_timestamp_seconds``) are derived at export time from the monotonic times in
the results: ``wall_now - (monotonic_now - t)``. A Raspberry Pi has no RTC, so its wall clock jumps
when NTP syncs; deriving at export keeps every age exact and every timestamp in the current wall frame.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway_core.model import CycleResult

from .families import (
    PREFIX,
    control_families,
    gauge,
    limit_families,
    limits_ignored,
    meter_families,
    obedience_families,
    reading_families,
)

__all__ = ["PREFIX", "GatewayCollector", "MetricsState", "advance", "families", "make_registry"]


@dataclass(frozen=True, slots=True)
class MetricsState:
    """What the metrics know: the latest result, the counters and the last-event monotonic times."""

    result: CycleResult | None = None
    cycles: int = 0
    read_errors: int = 0
    can_errors: int = 0
    last_read_s: float | None = None
    last_publish_s: float | None = None
    limits_ignored_cycles: int = 0


def advance(state: MetricsState, result: CycleResult) -> MetricsState:
    """Fold one cycle's result into ``state`` (pure).

    ``cycles`` follows ``result.cycle``, so results the core dropped are still counted; read errors
    are problems of role ``source``, CAN errors the sinks that could not publish (problems of role
    ``sink`` when the result lists no sinks); ``limits_ignored_cycles``
    counts the results in which a sink reported that its inverter ignores the limits.
    """
    read_errors = state.read_errors + sum(problem.role == "source" for problem in result.problems)
    if result.sinks:  # a sink's report problems (the inverter is silent ...) are no failed publish
        can_errors = state.can_errors + sum(not sink.published for sink in result.sinks)
    else:
        can_errors = state.can_errors + sum(problem.role == "sink" for problem in result.problems)
    last_read_s = state.last_read_s
    if result.reading is not None and (last_read_s is None or result.reading.taken_at_s > last_read_s):
        last_read_s = result.reading.taken_at_s
    last_publish_s = result.started_at_s + result.duration_s if result.published else state.last_publish_s
    return MetricsState(
        result,
        max(state.cycles, result.cycle),
        read_errors,
        can_errors,
        last_read_s,
        last_publish_s,
        state.limits_ignored_cycles + limits_ignored(result),
    )


def families(
    state: MetricsState, *, monotonic_now: float, wall_now: float, build: dict[str, str]
) -> Iterator[Metric]:
    """Every metric family for ``state``; timestamps are converted with the two clocks read now (pure)."""

    def wall(t: float) -> float:
        return wall_now - (monotonic_now - t)

    info = dict(build)
    if state.result is not None:
        info.update(source=state.result.source, policy=state.result.policy, sink=state.result.sink)
    yield InfoMetricFamily(PREFIX + "build", "Gateway version and the plugins in use.", value=info)
    yield CounterMetricFamily(PREFIX + "cycles", "Control cycles run.", value=state.cycles)
    yield CounterMetricFamily(
        PREFIX + "read_errors", "Failed BMS reads (source problems).", value=state.read_errors
    )
    yield CounterMetricFamily(
        PREFIX + "can_errors", "Failed inverter publishes (sink problems).", value=state.can_errors
    )
    yield CounterMetricFamily(
        PREFIX + "limits_ignored_cycles",
        "Cycles in which a sink reported that its inverter ignores the limits.",
        value=state.limits_ignored_cycles,
    )
    if state.last_read_s is not None:
        yield gauge(
            "last_read_timestamp_seconds", "When the latest BMS reading arrived.", wall(state.last_read_s)
        )
    if state.last_publish_s is not None:
        yield gauge(
            "last_publish_timestamp_seconds", "When limits were last published.", wall(state.last_publish_s)
        )
    result = state.result
    if result is None:
        return
    if result.peer_seen_at_s is not None:
        yield gauge(
            "inverter_last_seen_timestamp_seconds",
            "When the inverter was last heard.",
            wall(result.peer_seen_at_s),
        )
    yield from reading_families(result)
    yield from limit_families(result)
    yield from control_families(result)
    yield from meter_families(result, wall)
    yield from obedience_families(result)


def build_labels() -> dict[str, str]:
    """Labels of ``battery_gateway_build_info``: gateway, Python and prometheus-client versions."""

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "version": version("battery-gateway"),
        "python": platform.python_version(),
        "prometheus_client": version("prometheus-client"),
    }


class GatewayCollector(Collector):
    """A prometheus-client collector over the latest :class:`MetricsState`; thread-safe.

    ``update`` runs on the observer thread; ``collect`` on the HTTP server's threads or the textfile
    writer. ``monotonic`` must be the gateway's clock (``ctx.clock.now``); ``wall`` is ``time.time``.
    """

    def __init__(self, monotonic: Callable[[], float], wall: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._state = MetricsState()
        self._build = build_labels()

    @property
    def state(self) -> MetricsState:
        """The latest state (immutable)."""
        return self._state

    def update(self, result: CycleResult) -> None:
        """Fold one cycle's result in."""
        with self._lock:
            self._state = advance(self._state, result)

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families of the latest state."""
        with self._lock:
            state = self._state
        yield from families(state, monotonic_now=self._monotonic(), wall_now=self._wall(), build=self._build)


def make_registry(collector: GatewayCollector) -> CollectorRegistry:
    """A private registry holding only ``collector`` (never the process-global default registry)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
