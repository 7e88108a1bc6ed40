"""Prometheus metrics for battery-gateway: an HTTP ``/metrics`` endpoint and a node-exporter textfile.

Enable with ``[gateway] observers = ["prometheus"]``; configure in ``[prometheus]`` (see
:class:`prometheus_observer.config.PrometheusConfig` and ``docs/metrics.md``). prometheus-client is
imported only when the observer is built.
"""

from __future__ import annotations

from gateway_core import hookimpl
from gateway_core.roles import PluginContext, Register

from .config import PrometheusConfig


@hookimpl
def gateway_register_observers(register: Register) -> None:
    """Register the ``prometheus`` observer."""

    def build(config: PrometheusConfig, ctx: PluginContext) -> object:
        from .observer import PrometheusObserver

        return PrometheusObserver(config, ctx)

    register(
        "prometheus",
        build,
        config=PrometheusConfig,
        description="Prometheus metrics: HTTP /metrics endpoint and/or node-exporter textfile",
    )
