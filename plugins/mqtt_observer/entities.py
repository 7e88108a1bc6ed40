"""The Home Assistant entities: the bank's (or single battery's) and each pack's (pure).

Each entity is ``(component, key, config)``; :mod:`mqtt_observer.discovery` adds the shared fields
(topics, device, unique id). Templates render ``None`` when the state has no value, which Home
Assistant shows as "unknown".
"""

from __future__ import annotations

import json
from typing import Any

from gateway_core.model import Alarm

from .state import Shape

Entity = tuple[str, str, dict[str, Any]]


def _num(path: str) -> str:
    return "{{ value_json." + path + " }}"


def _item(path: str, index: int) -> str:
    # An index past the end (or a null list) is undefined in Jinja; default(None) renders "None".
    return "{{ value_json." + path + f"[{index}] | default(None) }}}}"


def _bool(path: str) -> str:
    return "{{ 'ON' if value_json." + path + " else 'OFF' }}"


def _alarm(alarm: Alarm) -> str:
    return (
        "{% if value_json.alarms is none %}None"
        f"{{% elif '{alarm.value}' in value_json.alarms %}}ON{{% else %}}OFF{{% endif %}}"
    )


def _sensor(
    key: str,
    name: str,
    template: str,
    unit: str | None,
    device_class: str | None,
    precision: int | None,
    diagnostic: bool = False,
) -> tuple[str, str, dict[str, Any]]:
    config: dict[str, Any] = {"name": name, "value_template": template}
    if unit is not None:
        config["unit_of_measurement"] = unit
        config["state_class"] = "measurement"
    if device_class is not None:
        config["device_class"] = device_class
    if precision is not None:
        config["suggested_display_precision"] = precision
    if diagnostic:
        config["entity_category"] = "diagnostic"
    return "sensor", key, config


def _binary(
    key: str, name: str, template: str, device_class: str | None, diagnostic: bool = False
) -> tuple[str, str, dict[str, Any]]:
    config: dict[str, Any] = {"name": name, "value_template": template}
    if device_class is not None:
        config["device_class"] = device_class
    if diagnostic:
        config["entity_category"] = "diagnostic"
    return "binary_sensor", key, config


def _maybe_bool(path: str) -> str:
    return (
        "{% if value_json." + path + " is none %}None"
        "{% elif value_json." + path + " %}ON{% else %}OFF{% endif %}"
    )


def entities(shape: Shape, *, commands: bool = False) -> list[Entity]:
    """The battery's (a bank's: the combined) entities as ``(component, key, config)``."""
    items = [
        _sensor("voltage", "Voltage", _num("voltage_v"), "V", "voltage", 2),
        _sensor("current", "Current", _num("current_a"), "A", "current", 1),
        _sensor("power", "Power", _num("power_w"), "W", "power", 0),
        _sensor("soc", "State of charge", _num("soc_pct"), "%", "battery", 0),
        _sensor("soh", "State of health", _num("soh_pct"), "%", None, 0, diagnostic=True),
        _sensor("cell_min", "Cell voltage min", _num("cell_min_v"), "V", "voltage", 3),
        _sensor("cell_max", "Cell voltage max", _num("cell_max_v"), "V", "voltage", 3),
        _sensor("cell_delta", "Cell voltage delta", _num("cell_delta_v"), "V", "voltage", 3),
        _sensor(
            "charge_current_limit", "Charge current limit", _num("limits.charge_current_a"), "A", "current", 1
        ),
        _sensor(
            "discharge_current_limit",
            "Discharge current limit",
            _num("limits.discharge_current_a"),
            "A",
            "current",
            1,
        ),
        _sensor(
            "charge_voltage_limit", "Charge voltage limit", _num("limits.charge_voltage_v"), "V", "voltage", 2
        ),
        _sensor(
            "discharge_voltage_limit",
            "Discharge voltage limit",
            _num("limits.discharge_voltage_v"),
            "V",
            "voltage",
            2,
        ),
        _sensor(
            "limit_reasons",
            "Limit reasons",
            "{{ (value_json.limits.reasons | join('; '))[:255] }}",
            None,
            None,
            None,
        ),
        _sensor(
            "inverter_last_heard",
            "Inverter last heard",
            _num("inverter_last_heard_s_ago"),
            "s",
            "duration",
            0,
            diagnostic=True,
        ),
        _sensor("reported_soc", "State of charge reported", _num("reported_soc_pct"), "%", None, 0),
        _sensor("charge_state", "Charge state", _num("charge_state"), None, None, None),
        _binary("limits_ignored", "Inverter ignores limits", _maybe_bool("limits_ignored"), "problem"),
        _binary("charging_allowed", "Charging allowed", _bool("limits.charge_allowed"), None),
        _binary("discharging_allowed", "Discharging allowed", _bool("limits.discharge_allowed"), None),
        _binary("failsafe", "Fail-safe", _bool("failsafe"), "problem"),
        _binary("source_ok", "BMS link", _bool("source_ok"), "connectivity", diagnostic=True),
        _binary("sink_ok", "Inverter link", _bool("sink_ok"), "connectivity", diagnostic=True),
    ]
    for index in range(shape.cells):
        items.append(
            _sensor(
                f"cell_{index + 1:02d}",
                f"Cell {index + 1} voltage",
                _item("cell_voltages_v", index),
                "V",
                "voltage",
                3,
            )
        )
    for index in range(shape.temperatures):
        items.append(
            _sensor(
                f"temperature_{index + 1}",
                f"Temperature {index + 1}",
                _item("temperatures_c", index),
                "°C",
                "temperature",
                1,
            )
        )
    if shape.bms_temperature:
        items.append(
            _sensor(
                "bms_temperature",
                "BMS temperature",
                _num("bms_temperature_c"),
                "°C",
                "temperature",
                1,
                diagnostic=True,
            )
        )
    for alarm in Alarm:
        title = alarm.value.replace("_", " ").capitalize()
        items.append(_binary(f"alarm_{alarm.value}", f"Alarm {title.lower()}", _alarm(alarm), "problem"))
    if shape.meter:
        items.append(_sensor("grid_power", "Grid power", _num("grid_power_w"), "W", "power", 0))
    if commands:
        items.append(
            _sensor(
                "charge_limit_override",
                "Charge limit override",
                "{{ value_json.override.charge_current_a if value_json.override else None }}",
                "A",
                "current",
                1,
            )
        )
    return items


def _pack_value(name: str, field: str) -> str:
    # The pack's name is quoted as a JSON string literal, which Jinja reads the same way.
    return (
        "{% set p = (value_json.packs or {}).get(" + json.dumps(name) + ") %}"
        "{{ p." + field + " if p else None }}"
    )


def _pack_online(name: str) -> str:
    return (
        "{% set p = (value_json.packs or {}).get(" + json.dumps(name) + ") %}"
        "{% if p is none %}None{% elif p.online %}ON{% else %}OFF{% endif %}"
    )


def pack_entities(name: str) -> list[Entity]:
    """One pack's entities: voltage, current, SOC, lowest and highest cell, and whether it counts."""
    return [
        _sensor("voltage", "Voltage", _pack_value(name, "voltage_v"), "V", "voltage", 2),
        _sensor("current", "Current", _pack_value(name, "current_a"), "A", "current", 1),
        _sensor("soc", "State of charge", _pack_value(name, "soc_pct"), "%", "battery", 0),
        _sensor("cell_min", "Cell voltage min", _pack_value(name, "cell_min_v"), "V", "voltage", 3),
        _sensor("cell_max", "Cell voltage max", _pack_value(name, "cell_max_v"), "V", "voltage", 3),
        _binary("online", "Online", _pack_online(name), "connectivity"),
    ]
