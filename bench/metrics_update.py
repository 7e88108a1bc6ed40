"""Benchmark: what the prometheus observer costs per cycle, and per scrape.

``bench_metrics_update`` times what the observer thread does for each cycle (its hook folds one
16-cell CycleResult into the metrics state); ``bench_metrics_render`` times one scrape's rendering of the
text exposition (done on the HTTP server's thread, or when the textfile is written). The control
loop itself only hands the result to the observer queue.
"""

from __future__ import annotations

import logging
import tempfile
import time

from gateway_core.model import Alarm, BatteryReading, CycleResult, LimitFlag, Limits

UPDATES_PER_REPEAT = 2000
RENDERS_PER_REPEAT = 200


def sample_result(cycle: int = 1) -> CycleResult:
    """A realistic 16-cell cycle result with limits, an alarm and the inverter heard."""
    now = time.monotonic()
    cells = tuple(3.30 + 0.001 * i for i in range(16))
    reading = BatteryReading(
        source_id="bench",
        taken_at_s=now,
        voltage_v=sum(cells),
        current_a=-12.5,
        soc_pct=73.5,
        cell_voltages_v=cells,
        temperatures_c=(18.5, 19.0),
        bms_temperature_c=31.0,
        alarms=frozenset({Alarm.CELL_IMBALANCE}),
        cycle_count=42,
        capacity_ah=280.0,
    )
    limits = Limits(50.0, 60.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("bench",))
    return CycleResult(
        cycle, now, reading, limits, True, (), now, 0.002, "jk_uart", "limit_ladder", "pylontech"
    )


def bench_metrics_update(repeats: int) -> list[float]:
    """Microseconds per metrics update from one 16-cell CycleResult, one figure per repeat.

    Times the observer's whole per-cycle hook, ``gateway_cycle_completed``, with the HTTP endpoint
    off and the textfile not due (its writes are timed by :func:`bench_metrics_render`).
    """
    from gateway_core.clock import MonotonicClock
    from gateway_core.roles import PluginContext
    from prometheus_observer.config import PrometheusConfig
    from prometheus_observer.observer import PrometheusObserver

    results = [sample_result(cycle) for cycle in range(1, UPDATES_PER_REPEAT + 1)]
    figures: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = PrometheusConfig(listen="", textfile=f"{tmp}/bench.prom", textfile_interval=3600.0)
        ctx = PluginContext("prometheus", MonotonicClock(), logging.getLogger("bench.prometheus"))
        observer = PrometheusObserver(config, ctx)
        observer.gateway_cycle_completed(results[0])  # the first cycle writes the textfile once
        for _ in range(repeats):
            start = time.perf_counter()
            for result in results:
                observer.gateway_cycle_completed(result)
            figures.append((time.perf_counter() - start) / UPDATES_PER_REPEAT * 1e6)
        observer.close()
    return figures


def bench_metrics_render(repeats: int) -> list[float]:
    """Microseconds to render the whole exposition once (one scrape), one figure per repeat."""
    from prometheus_client import generate_latest

    from prometheus_observer.metrics import GatewayCollector, make_registry

    collector = GatewayCollector(time.monotonic, time.time)
    registry = make_registry(collector)
    collector.update(sample_result())
    figures: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(RENDERS_PER_REPEAT):
            generate_latest(registry)
        figures.append((time.perf_counter() - start) / RENDERS_PER_REPEAT * 1e6)
    return figures


def main() -> None:
    """Print both figures with their spread (``python -m bench.metrics_update``)."""
    from bench.stats import summarize

    print(summarize("prometheus: metrics update per cycle (16 cells)", "us", bench_metrics_update(15)).line())
    print(summarize("prometheus: render one scrape (16 cells)", "us", bench_metrics_render(15)).line())


if __name__ == "__main__":
    main()
