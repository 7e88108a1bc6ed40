"""The Grafana dashboard and the docs page match the metrics the endpoint really exposes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from gateway_core.model import Fault, Limits, MeterReading, Problem
from prometheus_observer.metrics import PREFIX, GatewayCollector, make_registry
from tests.fakes import FakeClock

from .helpers import bank_result, make_result, parse, rich_reading

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "examples" / "grafana" / "battery-gateway.json"
DOCS = ROOT / "docs" / "metrics.md"
METRIC = re.compile(PREFIX + r"[a-z0-9_]+")


def load_dashboard() -> dict[str, Any]:
    """The dashboard as parsed JSON."""
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    """Every PromQL expression in the dashboard's panels and variables."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield variable["query"]["query"]


def panel_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """``(panel, expr)`` for every PromQL expression of the panels."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target["expr"]


def full_exposition() -> set[str]:
    """Sample names of an endpoint that has seen every kind of value (reading, limits, faults, peer)."""
    clock = FakeClock()
    collector = GatewayCollector(clock.now, lambda: 1e9)
    registry = make_registry(collector)
    collector.update(make_result(clock, reading=rich_reading(clock), peer_seen_at_s=clock.now()))
    names = parse(generate_latest(registry).decode()).names
    meter = MeterReading("em", clock.now(), 300.0, (100.0, 100.0, 100.0))
    collector.update(bank_result(clock, cycle=2, meter=meter, ignored_by=("inv1",)))
    names |= parse(generate_latest(registry).decode()).names
    collector.update(
        make_result(
            clock, cycle=3, limits=Limits.stop("x", Fault.NO_READING), problems=[Problem("sink", "p", "x")]
        )
    )
    return names | parse(generate_latest(registry).decode()).names


def test_dashboard_is_valid_grafana_json() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"type", "title", "gridPos"} <= panel.keys()
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_every_metric_the_dashboard_queries_exists_in_the_endpoint_output() -> None:
    exposed = full_exposition()
    queried = {name for expr in dashboard_exprs(load_dashboard()) for name in METRIC.findall(expr)}
    assert queried, "the dashboard queries no battery_gateway metric"
    assert sorted(queried - exposed) == []


def test_dashboard_covers_pack_cells_limits_failsafe_temperatures_and_errors() -> None:
    queried = {name for expr in dashboard_exprs(load_dashboard()) for name in METRIC.findall(expr)}
    for name in (
        "pack_voltage_volts",
        "pack_current_amperes",
        "state_of_charge_percent",
        "cell_voltage_volts",
        "cell_voltage_delta_volts",
        "limit_current_amperes",
        "limit_voltage_volts",
        "failsafe",
        "failsafe_active",
        "temperature_celsius",
        "read_errors_total",
        "can_errors_total",
        "pack_online",
        "charge_state",
        "reported_state_of_charge_percent",
        "grid_power_watts",
        "inverter_ignores_limits",
    ):
        assert PREFIX + name in queried, name


BANK_SERIES = (
    "pack_voltage_volts",
    "pack_current_amperes",
    "state_of_charge_percent",
    "cell_voltage_min_volts",
    "cell_voltage_max_volts",
)


def test_every_query_of_a_series_with_per_pack_samples_picks_the_bank_or_the_packs() -> None:
    # Without pack="" a bank's per-pack series would join the bank's in every single-value panel.
    for expr in dashboard_exprs(load_dashboard()):
        for name in BANK_SERIES:
            for selector in re.findall(PREFIX + name + r"(\{[^}]*\})?", expr):
                assert 'pack=""' in selector or 'pack!=""' in selector, expr


def test_docs_list_every_exposed_metric() -> None:
    documented = set(METRIC.findall(DOCS.read_text()))
    assert sorted(full_exposition() - documented) == []
