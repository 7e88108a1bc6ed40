"""The observer inside a real gateway run: enabled by [gateway] observers, fed by the engine."""

from __future__ import annotations

from pathlib import Path

from gateway_core import hookimpl
from gateway_core.model import CycleResult
from gateway_core.plugins import make_plugin_manager
from gateway_core.roles import Register
from gateway_core.runner import build_gateway, run_gateway
from prometheus_observer.observer import PrometheusObserver
from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy, make_reading

from .helpers import Scrape, parse, scrape_http


class FakePlugins:
    """Registers a scripted source, a fixed policy and a recording sink."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    @hookimpl
    def gateway_register_sources(self, register: Register) -> None:
        register(
            "fake_source", lambda _c, ctx: FakeSource(self.clock, default=lambda: make_reading(self.clock))
        )

    @hookimpl
    def gateway_register_policies(self, register: Register) -> None:
        register("fake_policy", lambda _c, _ctx: FixedPolicy())

    @hookimpl
    def gateway_register_sinks(self, register: Register) -> None:
        register("fake_sink", lambda _c, _ctx: FakeSink(self.clock))


def test_gateway_run_serves_and_writes_the_metrics(tmp_path: Path) -> None:
    import prometheus_observer

    clock = FakeClock()
    pm = make_plugin_manager(entry_points=False)
    pm.register(prometheus_observer, name="prometheus")
    pm.register(FakePlugins(clock), name="fakes")
    path = tmp_path / "gateway.prom"
    scrapes: list[Scrape] = []
    built: list[PrometheusObserver] = []

    def on_cycle(result: CycleResult) -> None:
        scrapes.append(scrape_http(built[0]))  # the endpoint serves while the loop runs

    gateway = build_gateway(
        pm,
        config_path=None,
        overrides=[
            'gateway.source="fake_source"',
            'gateway.policy="fake_policy"',
            'gateway.sink="fake_sink"',
            'gateway.observers=["prometheus"]',
            'prometheus.listen="127.0.0.1:0"',
            f"prometheus.textfile={str(path)!r}",
            "prometheus.textfile_interval=0",
        ],
        clock=clock,
        threaded=False,
        max_cycles=3,
        on_cycle=on_cycle,
    )
    (observer,) = gateway.observers
    assert isinstance(observer, PrometheusObserver)
    built.append(observer)
    assert run_gateway(gateway, install_signals=False) == 0

    assert [s.value("battery_gateway_cycles_total") for s in scrapes] == [1, 2, 3]
    assert scrapes[-1].value("battery_gateway_pack_voltage_volts") == make_reading().voltage_v
    assert scrapes[-1].labelled("battery_gateway_limit_current_amperes", "direction") == {
        "charge": 50.0,
        "discharge": 60.0,
    }
    final = parse(path.read_text())
    # the shutdown publish (stop limits) reaches the observers after the 3 cycles
    assert final.value("battery_gateway_cycles_total") == 4
    assert final.value("battery_gateway_failsafe", reason="shutdown") == 1
    assert final.value("battery_gateway_build_info", source="fake_source", sink="fake_sink") == 1
    assert observer.address is None  # run_gateway closed it


def test_a_bank_of_two_in_a_real_run_has_pack_labelled_series_beside_the_bank(tmp_path: Path) -> None:
    import prometheus_observer

    clock = FakeClock()
    pm = make_plugin_manager(entry_points=False)
    pm.register(prometheus_observer, name="prometheus")
    pm.register(FakePlugins(clock), name="fakes")
    scrapes: list[Scrape] = []
    built: list[PrometheusObserver] = []
    gateway = build_gateway(
        pm,
        config_path=None,
        overrides=[
            'gateway.sources=["pack1", "pack2"]',
            'pack1.plugin="fake_source"',
            'pack2.plugin="fake_source"',
            'gateway.policy="fake_policy"',
            'gateway.sink="fake_sink"',
            'gateway.observers=["prometheus"]',
            'prometheus.listen="127.0.0.1:0"',
        ],
        clock=clock,
        threaded=False,
        max_cycles=2,
        on_cycle=lambda result: scrapes.append(scrape_http(built[0])),
    )
    (observer,) = gateway.observers
    assert isinstance(observer, PrometheusObserver)
    built.append(observer)
    assert run_gateway(gateway, install_signals=False) == 0
    m = scrapes[-1]
    socs = {
        s.labels.get("pack", ""): s.value
        for s in m.samples
        if s.name == "battery_gateway_state_of_charge_percent"
    }
    assert socs == {"": 50.0, "pack1": 50.0, "pack2": 50.0}
    assert m.labelled("battery_gateway_pack_online", "pack") == {"pack1": 1.0, "pack2": 1.0}
    currents = [s.labels for s in m.samples if s.name == "battery_gateway_pack_current_amperes"]
    assert currents == [{}, {"pack": "pack1"}, {"pack": "pack2"}]  # the bank's first, unlabelled
