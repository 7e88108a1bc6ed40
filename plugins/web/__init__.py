"""A read-only web page for battery-gateway: the battery, the limits and why, the bus, the last day.

Enable with ``[gateway] observers = ["web"]``; configure in ``[web]`` (see
:class:`web.config.WebConfig` and ``docs/web.md``). The HTTP server (standard library) and the
Pylontech decoder are imported only when the observer is built or first shows a frame.
"""

from __future__ import annotations

from gateway_core import hookimpl
from gateway_core.roles import PluginContext, Register

from .config import WebConfig


@hookimpl
def gateway_register_observers(register: Register) -> None:
    """Register the ``web`` observer."""

    def build(config: WebConfig, ctx: PluginContext) -> object:
        from .observer import WebObserver

        return WebObserver(config, ctx)

    register(
        "web",
        build,
        config=WebConfig,
        description="read-only web page and JSON API: battery, limits with reasons, frames, last 24 h",
    )
