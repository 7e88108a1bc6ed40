"""The [prometheus] section, the registration and the lazy import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway_core.errors import ConfigError
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.settings import build_section
from prometheus_observer.config import PrometheusConfig, parse_listen


def test_defaults_listen_on_localhost_9108_without_textfile() -> None:
    config = build_section(PrometheusConfig, "prometheus", {})
    assert config.address == ("127.0.0.1", 9108)
    assert config.textfile == ""
    assert config.textfile_interval == 10.0


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("0.0.0.0:9108", ("0.0.0.0", 9108)), ("[::1]:9200", ("::1", 9200)), ("localhost:0", ("localhost", 0))],
)
def test_listen_forms(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"listen": "9108"}, "is not host:port"),
        ({"listen": ":9108"}, "is not host:port"),
        ({"listen": "host:"}, "is not host:port"),
        ({"listen": "host:70000"}, "port must be 0 to 65535"),
        ({"listen": "[]:80"}, "host must not be empty"),
        ({"textfile": "/var/lib/node_exporter/battery.txt"}, "must end in .prom"),
        ({"listen": ""}, "listen and textfile are both empty"),
        ({"textfile_interval": -1.0}, "out of range"),
    ],
)
def test_bad_values_are_one_line_config_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build_section(PrometheusConfig, "prometheus", values, {k: "gateway.toml" for k in values})
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("gateway.toml: [prometheus]")


def test_registered_through_the_installed_entry_point() -> None:
    registry = collect_registrations(make_plugin_manager())
    registration = registry.get("observer", "prometheus")
    assert registration.config is PrometheusConfig
    assert registration.plugin == "prometheus"


def test_importing_the_plugin_does_not_import_prometheus_client() -> None:
    code = "import sys, prometheus_observer; assert 'prometheus_client' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_benchmark_runs() -> None:
    """Smoke test only: the figures themselves are reported by ``python -m bench``, never asserted."""
    from bench.metrics_update import bench_metrics_render, bench_metrics_update

    assert len(bench_metrics_update(1)) == 1
    assert len(bench_metrics_render(1)) == 1
