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

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway_core.model import Alarm, CycleResult, Fault, LimitFlag

PREFIX = "battery_gateway_"

_FLAGS = (
    ("charge", LimitFlag.CHARGE),
    ("discharge", LimitFlag.DISCHARGE),
    ("force_charge", LimitFlag.FORCE_CHARGE),
    ("full_charge", LimitFlag.FULL_CHARGE),
)


@dataclass(frozen=True, slots=True)
class MetricsState:
    """What the metrics know: the latest result, the counters and the last-event monotonic times."""

    result: CycleResult | None = None
    cycles: int = 0
    read_errors: int = 0
    can_errors: int = 0
    last_read_s: float | None = None
    last_publish_s: float | None = None


def advance(state: MetricsState, result: CycleResult) -> MetricsState:
    """Fold one cycle's result into ``state`` (pure).

    ``cycles`` follows ``result.cycle``, so results the core dropped are still counted; read errors
    are problems of role ``source``, CAN errors problems of role ``sink``.
    """
    read_errors = state.read_errors
    can_errors = state.can_errors
    for problem in result.problems:
        if problem.role == "source":
            read_errors += 1
        elif problem.role == "sink":
            can_errors += 1
    last_read_s = state.last_read_s
    if result.reading is not None and (last_read_s is None or result.reading.taken_at_s > last_read_s):
        last_read_s = result.reading.taken_at_s
    last_publish_s = result.started_at_s + result.duration_s if result.published else state.last_publish_s
    return MetricsState(
        result, max(state.cycles, result.cycle), read_errors, can_errors, last_read_s, last_publish_s
    )


def _gauge(name: str, doc: str, value: float, unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value, unit=unit)


def _labelled(name: str, doc: str, label: str, values: Iterator[tuple[str, float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, doc, labels=[label])
    for key, value in values:
        family.add_metric([key], value)
    return family


def _pack(result: CycleResult) -> Iterator[Metric]:
    reading = result.reading
    if reading is None:
        return
    yield _gauge("pack_voltage_volts", "Pack voltage.", reading.voltage_v)
    yield _gauge("pack_current_amperes", "Pack current, positive while charging.", reading.current_a)
    yield _gauge("pack_power_watts", "Pack power, positive while charging.", reading.power_w)
    yield _gauge("state_of_charge_percent", "State of charge reported by the BMS.", reading.soc_pct)
    yield _gauge("state_of_health_percent", "State of health reported by the BMS.", reading.soh_pct)
    cells = ((str(i), v) for i, v in enumerate(reading.cell_voltages_v, start=1))
    yield _labelled("cell_voltage_volts", "Voltage of each cell (cell numbered from 1).", "cell", cells)
    yield _gauge("cell_voltage_min_volts", "Lowest cell voltage.", reading.min_cell_v)
    yield _gauge("cell_voltage_max_volts", "Highest cell voltage.", reading.max_cell_v)
    yield _gauge("cell_voltage_delta_volts", "Highest minus lowest cell voltage.", reading.cell_delta_v)
    temps = [(f"battery_{i}", t) for i, t in enumerate(reading.temperatures_c, start=1)]
    if reading.bms_temperature_c is not None:
        temps.append(("mosfet", reading.bms_temperature_c))
    yield _labelled(
        "temperature_celsius", "Battery probes (battery_N) and the BMS MOSFET sensor.", "sensor", iter(temps)
    )
    alarms = ((alarm.value, 1.0 if alarm in reading.alarms else 0.0) for alarm in Alarm)
    yield _labelled("alarm_active", "1 while the BMS reports the alarm.", "alarm", alarms)
    yield _gauge("bms_charge_enabled", "1 while the BMS charge switch is on.", float(reading.charge_enabled))
    yield _gauge(
        "bms_discharge_enabled", "1 while the BMS discharge switch is on.", float(reading.discharge_enabled)
    )
    if reading.cycle_count is not None:
        yield _gauge("bms_cycle_count", "Charge cycles counted by the BMS.", reading.cycle_count)
    if reading.capacity_ah is not None:
        yield _gauge("capacity_ampere_hours", "Capacity reported by the BMS.", reading.capacity_ah)


def _limits(result: CycleResult) -> Iterator[Metric]:
    limits = result.limits
    currents = iter((("charge", limits.charge_current_a), ("discharge", limits.discharge_current_a)))
    yield _labelled("limit_current_amperes", "Current limits sent to the inverter.", "direction", currents)
    voltages = [
        (direction, value)
        for direction, value in (
            ("charge", limits.charge_voltage_v),
            ("discharge", limits.discharge_voltage_v),
        )
        if value is not None
    ]
    if voltages:
        yield _labelled(
            "limit_voltage_volts",
            "Voltage limits sent to the inverter (absent when not sent).",
            "direction",
            iter(voltages),
        )
    flags = ((name, 1.0 if flag in limits.flags else 0.0) for name, flag in _FLAGS)
    yield _labelled("limit_request", "1 while the request flag is sent to the inverter.", "flag", flags)
    yield _gauge(
        "failsafe_active", "1 while the gateway sends fail-safe stop limits.", float(limits.fault is not None)
    )
    reasons = ((fault.value, 1.0 if limits.fault is fault else 0.0) for fault in Fault)
    yield _labelled("failsafe", "1 for the reason of the current fail-safe stop, else 0.", "reason", reasons)
    yield _gauge("cycle_duration_seconds", "Duration of the latest control cycle.", result.duration_s)


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
    if state.last_read_s is not None:
        yield _gauge(
            "last_read_timestamp_seconds", "When the latest BMS reading arrived.", wall(state.last_read_s)
        )
    if state.last_publish_s is not None:
        yield _gauge(
            "last_publish_timestamp_seconds", "When limits were last published.", wall(state.last_publish_s)
        )
    result = state.result
    if result is None:
        return
    if result.peer_seen_at_s is not None:
        yield _gauge(
            "inverter_last_seen_timestamp_seconds",
            "When the inverter was last heard.",
            wall(result.peer_seen_at_s),
        )
    yield from _pack(result)
    yield from _limits(result)


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
