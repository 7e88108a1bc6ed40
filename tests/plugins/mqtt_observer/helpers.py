"""Builders shared by the MQTT observer tests."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from gateway_core.model import (
    BatteryReading,
    CycleResult,
    LimitFlag,
    Limits,
    MeterReading,
    PackResult,
    Problem,
    PublishReport,
    SinkResult,
)
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


def bank_result(
    clock: FakeClock,
    cycle: int = 1,
    *,
    packs: tuple[str, ...] = ("pack1", "pack2"),
    offline: tuple[str, ...] = ("pack2",),
    ignored_by: tuple[str, ...] = ("inv1",),
    grid_power_w: float | None = 420.5,
    charge_state: str | None = "absorption",
    reported_soc_pct: float | None = 98.0,
) -> CycleResult:
    """A bank's cycle as the core will report it: packs, two sinks, a meter and charge control.

    Online packs have a 16-cell reading whose cells differ by pack; offline ones have none.
    """
    pack_results = []
    for index, name in enumerate(packs):
        online = name not in offline
        reading = make_reading(
            clock, cell_v=3.30 + 0.01 * index, current_a=-5.0 - index, soc_pct=60.0 + index
        )
        pack_results.append(
            PackResult(
                name,
                "jk_uart",
                online,
                reading if online else None,
                replace(ALLOW, charge_current_a=40.0 + index) if online else None,
                () if online else (Problem("source", name, "no reply"),),
            )
        )
    sinks = tuple(
        SinkResult(name, "pylontech", True, PublishReport(6, limits_ignored=name in ignored_by))
        for name in ("inv1", "inv2")
    )
    meter = (
        None
        if grid_power_w is None
        else MeterReading("em", clock.now() - 1.0, grid_power_w, (140.0, 140.5, 140.0))
    )
    limits = replace(ALLOW, charge_state=charge_state, reported_soc_pct=reported_soc_pct)
    base = make_result(clock, cycle, limits=limits)
    return replace(
        base,
        packs=tuple(pack_results),
        sinks=sinks,
        meter=meter,
        meter_age_s=None if meter is None else 1.0,
    )
