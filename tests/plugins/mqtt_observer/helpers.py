"""Builders shared by the MQTT observer tests."""

from __future__ import annotations

import logging
from typing import Any

from gateway_core.model import BatteryReading, CycleResult, LimitFlag, Limits, Problem
from gateway_core.roles import PluginContext
from gateway_core.settings import build_section
from mqtt_observer.config import MqttConfig
from mqtt_observer.observer import MqttObserver
from tests.fakes import FakeClock, make_reading

ALLOW = Limits(50.0, 60.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("fixed",))


def mqtt_config(**values: Any) -> MqttConfig:
    """An ``[mqtt]`` section built the way the gateway builds it (bounds and checks applied)."""
    values.setdefault("host", "127.0.0.1")
    values.setdefault("device_id", "testbat")
    values.setdefault("reconnect_max_s", 1)
    return build_section(MqttConfig, "mqtt", values)


def make_observer(clock: FakeClock, **values: Any) -> MqttObserver:
    ctx = PluginContext(name="mqtt", clock=clock, logger=logging.getLogger("gateway.mqtt"))
    return MqttObserver(mqtt_config(**values), ctx)


def make_result(
    clock: FakeClock,
    cycle: int = 1,
    *,
    limits: Limits = ALLOW,
    reading: BatteryReading | str | None = "default",
    problems: tuple[Problem, ...] = (),
    peer_seen_at_s: float | None = None,
    published: bool = True,
) -> CycleResult:
    """A cycle result at the clock's current time (a plausible 16-cell reading by default)."""
    if reading == "default":
        reading = make_reading(clock)
    assert not isinstance(reading, str)
    return CycleResult(
        cycle=cycle,
        started_at_s=clock.now(),
        reading=reading,
        limits=limits,
        published=published,
        problems=problems,
        peer_seen_at_s=peer_seen_at_s,
        duration_s=0.0,
        source="jk_uart",
        policy="limit_ladder",
        sink="pylontech",
    )
