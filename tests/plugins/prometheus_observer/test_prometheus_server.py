"""A real Prometheus server scrapes the gateway's endpoint and answers queries about it.

Needs ``/usr/bin/prometheus`` (Debian package ``prometheus``; ``.ci/run`` installs it). Without the
binary the test is skipped, except under ``CI`` where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway_core.model import MeterReading
from tests.fakes import FakeClock

from .helpers import bank_result, make_observer, rich_reading
from .test_dashboard import load_dashboard, panel_exprs

DEADLINE_S = 30.0


def prometheus_binary() -> str:
    """The Prometheus server binary; skip (fail under CI) when it is missing."""
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the prometheus binary is missing; .ci/run must install the 'prometheus' package")
        pytest.skip("the prometheus binary is not installed (apt-get install prometheus)")
    return found


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def query(base: str, expr: str) -> dict[str, Any]:
    """Run an instant PromQL query; return the decoded JSON answer (errors included)."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        answer = json.load(exc)
    return answer


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """Yields ``(base_url, start)``; ``start("host:port")`` launches Prometheus scraping it every 1 s."""
    binary = prometheus_binary()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "prometheus.log"

    def start(target: str) -> None:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: battery_gateway\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        with open(log, "wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'data'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    try:
        yield base, start
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_prometheus_scrapes_the_pack_voltage(prometheus_server: tuple[str, Any], tmp_path: Path) -> None:
    base, start = prometheus_server
    clock = FakeClock()
    reading = rich_reading(clock)
    observer = make_observer(clock)
    meter = MeterReading("em", clock.now(), 250.0, (80.0, 90.0, 80.0))
    bank = bank_result(clock, bank=reading, meter=meter, ignored_by=("inv1",))  # a bank of two packs
    try:
        observer.gateway_cycle_completed(replace(bank, peer_seen_at_s=clock.now()))
        address = observer.address
        assert address is not None
        start(f"127.0.0.1:{address[1]}")
        deadline = time.monotonic() + DEADLINE_S
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                answer = query(base, 'battery_gateway_pack_voltage_volts{pack=""}')
                result = answer.get("data", {}).get("result", [])
            except (urllib.error.URLError, ConnectionError):
                result = []
            if result:
                break
            time.sleep(0.25)
        if not result:
            log = (tmp_path / "prometheus.log").read_text(errors="replace")[-3000:]
            pytest.fail(
                f"Prometheus never answered with the pack voltage within {DEADLINE_S:g} s; log:\n{log}"
            )
        (sample,) = result
        assert sample["metric"]["job"] == "battery_gateway"
        assert float(sample["value"][1]) == reading.voltage_v

        packs = query(base, 'battery_gateway_state_of_charge_percent{pack!=""}')["data"]["result"]
        assert {s["metric"]["pack"]: float(s["value"][1]) for s in packs} == {"pack1": 60.0, "pack2": 61.0}

        # Every query of the Grafana dashboard is valid PromQL (Prometheus parses and runs it), and
        # a single-value panel gets one series although the bank's packs have series of their own.
        for panel, expr in panel_exprs(load_dashboard()):
            promql = expr.replace("$instance", ".*")
            answer = query(base, promql)
            assert answer["status"] == "success", (expr, answer)
            if panel["type"] == "stat":
                assert len(answer["data"]["result"]) <= 1, expr
        for name in ("charge_state", "grid_power_watts", "inverter_ignores_limits", "pack_online"):
            assert query(base, f"battery_gateway_{name}")["data"]["result"], name
        up = query(base, 'up{job="battery_gateway"}')["data"]["result"]
        assert [float(s["value"][1]) for s in up] == [1.0]
    finally:
        observer.close()
