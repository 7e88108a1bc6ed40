"""A grid meter read from MQTT: the power a Shelly, Tasmota or Home Assistant publishes on a topic.

Choose it with ``[gateway] meter = "mqtt_meter"``; configure it in ``[mqtt_meter]`` (the broker keys
are those of ``[mqtt]``). paho-mqtt is imported only when the meter is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import PluginContext, hookimpl
from gateway_core.roles import RegisterMeter

from .config import MqttMeterConfig

if TYPE_CHECKING:
    from .meter import MqttMeter

__all__ = ["MqttMeterConfig"]


@hookimpl
def gateway_register_meters(register: RegisterMeter) -> None:
    """Register the ``mqtt_meter`` meter."""

    def build(config: MqttMeterConfig, ctx: PluginContext) -> MqttMeter:
        from .meter import MqttMeter

        return MqttMeter(config, ctx)

    register(
        "mqtt_meter",
        build,
        config=MqttMeterConfig,
        description="grid power from an MQTT topic (Shelly, Tasmota, Home Assistant: a number or JSON)",
    )
