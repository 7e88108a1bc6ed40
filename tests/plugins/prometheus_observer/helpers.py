"""Shared builders for the prometheus observer tests: results, observers and a real-HTTP scrape."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway_core.model import (
    Alarm,
    BatteryReading,
    CycleResult,
    Fault,
    LimitFlag,
    Limits,
    MeterReading,
    PackResult,
    Problem,
    PublishReport,
    SinkResult,
)
from gateway_core.roles import PluginContext
from prometheus_observer.config import PrometheusConfig
from prometheus_observer.observer import PrometheusObserver
from tests.fakes import FakeClock, make_reading

WALL_NOW = 1_700_000_000.0

ALLOW = Limits(50.0, 60.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("test",))


def rich_reading(clock: FakeClock, **changes: object) -> BatteryReading:
    """A 16-cell reading with distinct cells, alarms and every optional field filled in."""
    cells = tuple(round(3.30 + 0.001 * i, 3) for i in range(16))
    values: dict[str, object] = {
        "cell_voltages_v": cells,
        "voltage_v": round(sum(cells), 3),
        "current_a": -12.5,
        "soc_pct": 73.5,
        "soh_pct": 97.0,
        "temperatures_c": (18.5, 19.25, 20.0),
        "bms_temperature_c": 31.5,
        "alarms": frozenset({Alarm.CELL_IMBALANCE, Alarm.LOW_CAPACITY}),
        "charge_enabled": True,
        "discharge_enabled": False,
        "cycle_count": 42,
        "capacity_ah": 280.0,
    }
    values.update(changes)
    return replace(make_reading(clock), **values)  # type: ignore[arg-type]


def make_result(
    clock: FakeClock,
    *,
    cycle: int = 1,
    reading: BatteryReading | None = None,
    limits: Limits = ALLOW,
    published: bool = True,
    problems: Iterable[Problem] = (),
    peer_seen_at_s: float | None = None,
) -> CycleResult:
    """A cycle result that started now on ``clock`` and lasted 20 ms."""
    return CycleResult(
        cycle=cycle,
        started_at_s=clock.now(),
        reading=reading,
        limits=limits,
        published=published,
        problems=tuple(problems),
        peer_seen_at_s=peer_seen_at_s,
        duration_s=0.02,
        source="fake_source",
        policy="fake_policy",
        sink="fake_sink",
    )


def bank_result(
    clock: FakeClock,
    *,
    cycle: int = 1,
    packs: tuple[str, ...] = ("pack1", "pack2"),
    offline: tuple[str, ...] = (),
    ignored_by: tuple[str, ...] = (),
    meter: MeterReading | None = None,
    charge_state: str | None = "absorption",
    reported_soc_pct: float | None = 98.0,
    bank: BatteryReading | None = None,
) -> CycleResult:
    """A bank's result with every new field filled: packs (SOC 60, 61 ..), two sinks, charge control.

    ``bank`` is the combined reading (default: a rich reading with SOC 73.5).
    """
    pack_results = tuple(
        PackResult(
            name,
            "jk_uart",
            name not in offline,
            None
            if name in offline
            else rich_reading(clock, soc_pct=60.0 + i, voltage_v=52.0 + i, current_a=-6.0 - i),
        )
        for i, name in enumerate(packs)
    )
    sinks = tuple(
        SinkResult(name, "pylontech", True, PublishReport(6, limits_ignored=name in ignored_by))
        for name in ("inv1", "inv2")
    )
    limits = replace(ALLOW, charge_state=charge_state, reported_soc_pct=reported_soc_pct)
    result = make_result(clock, cycle=cycle, reading=bank or rich_reading(clock), limits=limits)
    return replace(result, packs=pack_results, sinks=sinks, meter=meter, meter_age_s=0.5 if meter else None)


def stop_result(clock: FakeClock, fault: Fault = Fault.STALE_READING, cycle: int = 1) -> CycleResult:
    """A fail-safe cycle: stop limits, no reading."""
    return make_result(clock, cycle=cycle, limits=Limits.stop("reading too old", fault))


def make_observer(clock: FakeClock, *, opened: bool = True, **config: object) -> PrometheusObserver:
    """An observer on ``clock`` with a fixed wall clock; ``listen`` defaults to a free localhost port.

    ``opened``: call ``open()`` as the core does before the first cycle.
    """
    config.setdefault("listen", "127.0.0.1:0")
    ctx = PluginContext("prometheus", clock, logging.getLogger("gateway.prometheus.test"))
    observer = PrometheusObserver(PrometheusConfig(**config), ctx, wall=lambda: WALL_NOW)  # type: ignore[arg-type]
    if opened:
        observer.open()
    return observer


@dataclass
class Scrape:
    """A parsed exposition: every sample, plus the type of every family."""

    samples: list[Sample] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample ``name`` whose labels include ``labels``."""
        found = [s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()]
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
        return found[0]

    def labelled(self, name: str, label: str) -> dict[str, float]:
        """``{label value: sample value}`` for every sample of ``name``."""
        return {s.labels[label]: s.value for s in self.samples if s.name == name}

    @property
    def names(self) -> set[str]:
        """Every sample name in the exposition."""
        return {s.name for s in self.samples}


def parse(text: str) -> Scrape:
    """Parse Prometheus text with prometheus_client's own parser."""
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        scrape.types[family.name] = family.type
        scrape.samples.extend(family.samples)
    return scrape


def scrape_http(observer: PrometheusObserver) -> Scrape:
    """GET /metrics from the observer's endpoint over real HTTP and parse it."""
    address = observer.address
    assert address is not None, "endpoint not started"
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())
