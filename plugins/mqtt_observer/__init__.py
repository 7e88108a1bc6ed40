"""MQTT for battery-gateway: the battery and the gateway's decisions, with Home Assistant discovery.

Enable with ``[gateway] observers = ["mqtt"]``; configure in ``[mqtt]`` (see
:class:`mqtt_observer.config.MqttConfig`). paho-mqtt is imported only when the observer is built.
"""

from __future__ import annotations

from gateway_core import hookimpl
from gateway_core.roles import PluginContext, Register

from .config import MqttConfig


@hookimpl
def gateway_register_observers(register: Register) -> None:
    """Register the ``mqtt`` observer."""

    def build(config: MqttConfig, ctx: PluginContext) -> object:
        from .observer import MqttObserver

        return MqttObserver(config, ctx)

    register(
        "mqtt",
        build,
        config=MqttConfig,
        description="MQTT state, availability and Home Assistant discovery (optional charge override)",
    )
