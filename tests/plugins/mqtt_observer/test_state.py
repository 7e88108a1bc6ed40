"""The state message and the Home Assistant discovery configs (pure functions)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import jinja2
import pytest

from gateway_core.model import Alarm, Fault, LimitFlag, Limits, Problem
from mqtt_observer.commands import Override
from mqtt_observer.discovery import DiscoveryContext, discovery_messages
from mqtt_observer.state import Shape, build_state, encode, limits_key
from tests.fakes import FakeClock, make_reading
from tests.plugins.mqtt_observer.helpers import ALLOW, make_result

KEYS = {
    "voltage_v",
    "current_a",
    "power_w",
    "soc_pct",
    "soh_pct",
    "cell_voltages_v",
    "cell_min_v",
    "cell_max_v",
    "cell_delta_v",
    "temperatures_c",
    "bms_temperature_c",
    "alarms",
    "limits",
    "failsafe",
    "source_ok",
    "sink_ok",
    "problems",
    "inverter_last_heard_s_ago",
    "cycle",
}
LIMIT_KEYS = {
    "charge_current_a",
    "discharge_current_a",
    "charge_voltage_v",
    "discharge_voltage_v",
    "charge_allowed",
    "discharge_allowed",
    "reasons",
    "fault",
}
CTX = DiscoveryContext(
    prefix="homeassistant",
    node_id="battery_gateway_shed",
    base_topic="battery-gateway/shed",
    device_name="Battery shed",
    sw_version="0.1.0",
    expire_after_s=90,
)


def reading_with_spread(clock: FakeClock):
    cells = tuple([3.30] * 14 + [3.25, 3.41])
    return replace(
        make_reading(clock),
        cell_voltages_v=cells,
        voltage_v=round(sum(cells), 3),
        current_a=-12.5,
        soc_pct=61.0,
        soh_pct=97.0,
        alarms=frozenset({Alarm.CELL_IMBALANCE, Alarm.LOW_CAPACITY}),
    )


def test_state_of_a_normal_cycle():
    clock = FakeClock()
    result = make_result(clock, 7, reading=reading_with_spread(clock), peer_seen_at_s=clock.now() - 2.0)
    state = build_state(result)
    assert set(state) >= KEYS and set(state["limits"]) >= LIMIT_KEYS
    assert state["cycle"] == 7
    assert state["voltage_v"] == pytest.approx(52.86)
    assert state["current_a"] == -12.5
    assert state["power_w"] == pytest.approx(-660.8, abs=0.1)
    assert (state["soc_pct"], state["soh_pct"]) == (61.0, 97.0)
    assert len(state["cell_voltages_v"]) == 16
    assert (state["cell_min_v"], state["cell_max_v"], state["cell_delta_v"]) == (3.25, 3.41, 0.16)
    assert state["temperatures_c"] == [20.0, 21.0] and state["bms_temperature_c"] == 25.0
    assert state["alarms"] == ["cell_imbalance", "low_capacity"]
    assert state["limits"] == {
        "charge_current_a": 50.0,
        "discharge_current_a": 60.0,
        "charge_voltage_v": 55.2,
        "discharge_voltage_v": 50.4,
        "charge_allowed": True,
        "discharge_allowed": True,
        "force_charge": False,
        "full_charge": False,
        "reasons": ["fixed"],
        "fault": None,
    }
    assert state["failsafe"] is False and state["source_ok"] and state["sink_ok"]
    assert state["problems"] == [] and state["inverter_last_heard_s_ago"] == 2.0
    assert json.loads(encode(state)) == state


def test_state_without_a_reading_is_null_and_failsafe():
    clock = FakeClock()
    stop = Limits.stop("no reading: SourceTimeout", Fault.NO_READING)
    problems = (Problem("source", "jk_uart", "SourceTimeout"), Problem("sink", "pylontech", "bus off"))
    state = build_state(make_result(clock, reading=None, limits=stop, problems=problems, published=False))
    for key in KEYS - {"limits", "failsafe", "source_ok", "sink_ok", "problems", "cycle"}:
        assert state[key] is None, key
    assert state["failsafe"] is True and state["limits"]["fault"] == "no_reading"
    assert not state["limits"]["charge_allowed"] and not state["limits"]["discharge_allowed"]
    assert state["source_ok"] is False and state["sink_ok"] is False
    assert state["problems"] == ["source jk_uart: SourceTimeout", "sink pylontech: bus off"]


def test_state_shows_an_active_override_only():
    clock = FakeClock()
    result = make_result(clock)
    assert build_state(result, override=Override(20.0, clock.now() + 30))["override"] == {
        "charge_current_a": 20.0,
        "expires_in_s": 30.0,
    }
    assert build_state(result, override=Override(20.0, clock.now()))["override"] is None


def test_limits_key_ignores_the_wording():
    assert limits_key(ALLOW) == limits_key(replace(ALLOW, reasons=("other words",)))
    assert limits_key(ALLOW) != limits_key(replace(ALLOW, charge_current_a=49.0))
    assert limits_key(ALLOW) != limits_key(replace(ALLOW, flags=LimitFlag.DISCHARGE))


def test_shape_is_kept_while_there_is_no_reading():
    clock = FakeClock()
    shape = Shape.of(make_result(clock), None)
    assert shape == Shape(cells=16, temperatures=2, bms_temperature=True, model="jk_uart → pylontech")
    assert Shape.of(make_result(clock, reading=None), shape) == shape
    assert Shape.of(make_result(clock, reading=None), None).cells == 0


# -- discovery ------------------------------------------------------------------------------------

EXPECTED = {  # key: (component, device_class, state_class, unit)
    "voltage": ("sensor", "voltage", "measurement", "V"),
    "current": ("sensor", "current", "measurement", "A"),
    "power": ("sensor", "power", "measurement", "W"),
    "soc": ("sensor", "battery", "measurement", "%"),
    "soh": ("sensor", None, "measurement", "%"),
    "cell_min": ("sensor", "voltage", "measurement", "V"),
    "cell_max": ("sensor", "voltage", "measurement", "V"),
    "cell_delta": ("sensor", "voltage", "measurement", "V"),
    "cell_01": ("sensor", "voltage", "measurement", "V"),
    "cell_16": ("sensor", "voltage", "measurement", "V"),
    "temperature_1": ("sensor", "temperature", "measurement", "°C"),
    "temperature_2": ("sensor", "temperature", "measurement", "°C"),
    "bms_temperature": ("sensor", "temperature", "measurement", "°C"),
    "charge_current_limit": ("sensor", "current", "measurement", "A"),
    "discharge_current_limit": ("sensor", "current", "measurement", "A"),
    "charge_voltage_limit": ("sensor", "voltage", "measurement", "V"),
    "inverter_last_heard": ("sensor", "duration", "measurement", "s"),
    "limit_reasons": ("sensor", None, None, None),
    "charging_allowed": ("binary_sensor", None, None, None),
    "discharging_allowed": ("binary_sensor", None, None, None),
    "failsafe": ("binary_sensor", "problem", None, None),
    "source_ok": ("binary_sensor", "connectivity", None, None),
    "alarm_cell_overvoltage": ("binary_sensor", "problem", None, None),
    "alarm_bms_internal": ("binary_sensor", "problem", None, None),
}

SHAPE = Shape(cells=16, temperatures=2, bms_temperature=True, model="jk_uart → pylontech")


def by_key(messages: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {topic.split("/")[-2]: (topic.split("/")[1], payload) for topic, payload in messages.items()}


def test_discovery_entities_have_the_right_classes_and_units():
    entities = by_key(discovery_messages(CTX, SHAPE))
    for key, (component, device_class, state_class, unit) in EXPECTED.items():
        found_component, payload = entities[key]
        assert found_component == component, key
        assert payload.get("device_class") == device_class, key
        assert payload.get("state_class") == state_class, key
        assert payload.get("unit_of_measurement") == unit, key
    cells = [k for k in entities if k.startswith("cell_") and k[5:].isdigit()]
    assert len(cells) == 16
    assert {k for k in entities if k.startswith("alarm_")} == {f"alarm_{a.value}" for a in Alarm}
    assert "charge_limit_override" not in entities


def test_discovery_shares_one_device_and_the_topics():
    messages = discovery_messages(CTX, SHAPE)
    unique_ids = [payload["unique_id"] for payload in messages.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, payload in messages.items():
        assert topic.startswith("homeassistant/") and topic.endswith("/config")
        assert topic.split("/")[2] == "battery_gateway_shed"
        assert payload["state_topic"] == "battery-gateway/shed/state"
        assert payload["availability_topic"] == "battery-gateway/shed/availability"
        assert payload["device"]["identifiers"] == ["battery_gateway_shed"]
        assert payload["device"]["name"] == "Battery shed"
        assert payload["device"]["model"] == "jk_uart → pylontech"
        assert payload["expire_after"] == 90
        assert json.loads(json.dumps(payload)) == payload


def test_discovery_with_commands_adds_the_override_sensor():
    entities = by_key(discovery_messages(replace(CTX, commands=True), SHAPE))
    assert entities["charge_limit_override"][1]["unit_of_measurement"] == "A"


def render_all(shape: Shape, state: dict[str, Any]) -> dict[str, str]:
    """Render every value_template the way Home Assistant does (Jinja2, ``value_json`` = the state)."""
    env = jinja2.Environment()
    messages = discovery_messages(replace(CTX, commands=True), shape)
    return {
        key: env.from_string(payload["value_template"]).render(value_json=state).strip()
        for key, (_, payload) in by_key(messages).items()
    }


def test_templates_render_the_state_values():
    clock = FakeClock()
    reading = reading_with_spread(clock)
    state = build_state(
        make_result(clock, reading=reading, peer_seen_at_s=clock.now() - 3),
        override=Override(20.0, clock.now() + 60),
    )
    values = render_all(SHAPE, json.loads(encode(state)))
    assert float(values["voltage"]) == pytest.approx(52.86)
    assert values["cell_15"] == "3.25" and values["cell_16"] == "3.41"
    assert values["cell_delta"] == "0.16" and values["temperature_2"] == "21.0"
    assert values["charge_current_limit"] == "50.0" and values["discharging_allowed"] == "ON"
    assert values["alarm_cell_imbalance"] == "ON" and values["alarm_cell_overvoltage"] == "OFF"
    assert values["failsafe"] == "OFF" and values["source_ok"] == "ON"
    assert values["limit_reasons"] == "fixed" and values["inverter_last_heard"] == "3.0"
    assert values["charge_limit_override"] == "20.0"


def test_templates_render_none_without_a_reading():
    # "None" is what Home Assistant turns into "unknown" for sensors and binary sensors.
    clock = FakeClock()
    stop = Limits.stop("no reading yet", Fault.NO_READING)
    state = json.loads(encode(build_state(make_result(clock, reading=None, limits=stop))))
    values = render_all(SHAPE, state)
    for key in (
        "voltage",
        "soc",
        "cell_01",
        "cell_16",
        "temperature_1",
        "bms_temperature",
        "alarm_cell_imbalance",
        "inverter_last_heard",
        "charge_limit_override",
    ):
        assert values[key] == "None", key
    assert values["charging_allowed"] == "OFF" and values["failsafe"] == "ON"
    assert values["charge_current_limit"] == "0.0"


def test_templates_tolerate_fewer_cells_than_entities():
    clock = FakeClock()
    state = json.loads(encode(build_state(make_result(clock, reading=make_reading(clock, cells=8)))))
    values = render_all(SHAPE, state)
    assert values["cell_08"] == "3.3" and values["cell_09"] == "None"
