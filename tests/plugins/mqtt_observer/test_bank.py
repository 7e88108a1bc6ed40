"""Banks, charge control, the grid meter and obedience in the state and in Home Assistant.

The results are built by hand with every new field filled in (the core fills them as it grows), and
go once through the pure functions and once through a real mosquitto.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import jinja2
import pytest

from gateway_core.model import Fault, Limits, Problem, SinkResult
from mqtt_observer.discovery import DiscoveryContext, discovery_messages, pack_node_ids
from mqtt_observer.state import Shape, build_state, encode, limits_key, publish_key
from tests.fakes import FakeClock
from tests.plugins.mqtt_observer.helpers import bank_result, make_observer, make_result

CTX = DiscoveryContext(
    prefix="homeassistant",
    node_id="battery_gateway_shed",
    base_topic="battery-gateway/shed",
    device_name="Battery shed",
    sw_version="0.1.0",
)
BANK_NODE = "battery_gateway_testbat"
STATE = "battery-gateway/testbat/state"


def render(payload: dict[str, Any], state: dict[str, Any]) -> str:
    """Render a value_template as Home Assistant does; StrictUndefined: no silent undefined names."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(payload["value_template"]).render(value_json=state).strip()


def configs(shape: Shape) -> dict[str, dict[str, Any]]:
    """``{"<node>/<key>": payload}`` of every discovery message."""
    return {
        "/".join(topic.split("/")[2:4]): payload for topic, payload in discovery_messages(CTX, shape).items()
    }


# -- the state ---------------------------------------------------------------------------------------


def test_state_carries_packs_charge_control_grid_power_and_obedience():
    clock = FakeClock()
    state = json.loads(encode(build_state(bank_result(clock))))
    assert state["packs"] == {
        "pack1": {
            "online": True,
            "plugin": "jk_uart",
            "voltage_v": 52.8,
            "current_a": -5.0,
            "soc_pct": 60.0,
            "cell_min_v": 3.3,
            "cell_max_v": 3.3,
            "charge_current_a": 40.0,
            "discharge_current_a": 60.0,
            "charge_state": None,
            "problems": [],
        },
        "pack2": {
            "online": False,
            "plugin": "jk_uart",
            "voltage_v": None,
            "current_a": None,
            "soc_pct": None,
            "cell_min_v": None,
            "cell_max_v": None,
            "charge_current_a": None,
            "discharge_current_a": None,
            "charge_state": None,
            "problems": ["source pack2: no reply"],
        },
    }
    assert (state["soc_pct"], state["reported_soc_pct"], state["charge_state"]) == (50.0, 98.0, "absorption")
    assert (state["grid_power_w"], state["meter_age_s"]) == (420.5, 1.0)
    assert (state["limits_ignored"], state["limits_ignored_by"]) == (True, ["inv1"])


def test_reported_soc_is_the_bms_soc_when_the_policy_leaves_it():
    clock = FakeClock()
    assert build_state(bank_result(clock, reported_soc_pct=None))["reported_soc_pct"] == 50.0
    stop = make_result(clock, reading=None, limits=Limits.stop("no reading", Fault.NO_READING))
    assert build_state(stop)["reported_soc_pct"] is None and build_state(stop)["charge_state"] is None


def test_without_sink_reports_or_meter_those_are_unknown_not_false():
    clock = FakeClock()
    state = build_state(make_result(clock))  # a result as today's core makes it
    assert state["limits_ignored"] is None and state["limits_ignored_by"] == []
    assert state["grid_power_w"] is None and state["packs"] == {}
    obeying = build_state(bank_result(clock, ignored_by=()))
    assert obeying["limits_ignored"] is False


# -- discovery ---------------------------------------------------------------------------------------


def test_a_bank_announces_one_device_per_pack_linked_to_the_battery():
    clock = FakeClock()
    shape = Shape.of(bank_result(clock), None)
    assert shape.packs == (("pack1", "jk_uart"), ("pack2", "jk_uart")) and shape.meter
    found = configs(shape)
    for pack in ("pack1", "pack2"):
        node = f"battery_gateway_shed_{pack}"
        keys = {key.split("/")[1] for key in found if key.startswith(node + "/")}
        assert keys == {"voltage", "current", "soc", "cell_min", "cell_max", "online"}
        device = found[f"{node}/voltage"]["device"]
        assert device["identifiers"] == [node] and device["via_device"] == "battery_gateway_shed"
        assert device["name"] == f"Battery shed {pack}" and device["model"] == "jk_uart"
        assert found[f"{node}/online"]["device_class"] == "connectivity"
    assert found["battery_gateway_shed/grid_power"]["device_class"] == "power"
    assert found["battery_gateway_shed/grid_power"]["unit_of_measurement"] == "W"
    assert found["battery_gateway_shed/charge_state"]["name"] == "Charge state"
    assert found["battery_gateway_shed/reported_soc"]["unit_of_measurement"] == "%"
    ignores = found["battery_gateway_shed/limits_ignored"]
    assert ignores["name"] == "Inverter ignores limits" and ignores["device_class"] == "problem"
    unique_ids = [payload["unique_id"] for payload in found.values()]
    assert len(unique_ids) == len(set(unique_ids))


def test_templates_render_the_bank_values():
    clock = FakeClock()
    result = bank_result(clock)
    state = json.loads(encode(build_state(result)))
    found = configs(Shape.of(result, None))
    expected = {
        "battery_gateway_shed_pack1/voltage": "52.8",
        "battery_gateway_shed_pack1/current": "-5.0",
        "battery_gateway_shed_pack1/soc": "60.0",
        "battery_gateway_shed_pack1/cell_max": "3.3",
        "battery_gateway_shed_pack1/online": "ON",
        "battery_gateway_shed_pack2/online": "OFF",
        "battery_gateway_shed_pack2/voltage": "None",
        "battery_gateway_shed/charge_state": "absorption",
        "battery_gateway_shed/reported_soc": "98.0",
        "battery_gateway_shed/soc": "50.0",
        "battery_gateway_shed/grid_power": "420.5",
        "battery_gateway_shed/limits_ignored": "ON",
    }
    assert {key: render(found[key], state) for key in expected} == expected
    unknown = json.loads(encode(build_state(make_result(clock))))  # no packs, meter or sink reports
    for key in ("pack1/voltage", "pack1/online"):
        assert render(found[f"battery_gateway_shed_{key}"], unknown) == "None"
    assert render(found["battery_gateway_shed/limits_ignored"], unknown) == "None"
    assert render(found["battery_gateway_shed/grid_power"], unknown) == "None"
    assert render(found["battery_gateway_shed/charge_state"], unknown) == "None"


@pytest.mark.parametrize("name", ['pack "A"', "pack %} {{ x }}", "Pack 1", "ünï"])
def test_a_pack_name_of_any_characters_is_quoted_in_templates(name):
    clock = FakeClock()
    result = bank_result(clock, packs=(name, "pack2"), offline=())
    state = json.loads(encode(build_state(result)))
    node = pack_node_ids("battery_gateway_shed", Shape.of(result, None).packs)[name]
    assert render(configs(Shape.of(result, None))[f"{node}/soc"], state) == "60.0"


def test_pack_node_ids_stay_unique_when_names_sanitise_alike():
    ids = pack_node_ids("n", (("Pack 1", "a"), ("pack_1", "b"), ("pack-2", "c")))
    assert ids == {"Pack 1": "n_pack_1", "pack_1": "n_pack_1_2", "pack-2": "n_pack-2"}


def test_a_single_source_has_no_pack_devices_and_no_meter_sensor_without_a_meter():
    clock = FakeClock()
    single = bank_result(clock, packs=("pack1",), offline=(), grid_power_w=None)
    found = configs(Shape.of(single, None))
    assert not [key for key in found if "pack1" in key]
    assert "battery_gateway_shed/grid_power" not in found
    assert "battery_gateway_shed/limits_ignored" in found and "battery_gateway_shed/charge_state" in found


def test_the_shape_keeps_packs_and_meter_through_results_that_lack_them():
    clock = FakeClock()
    shape = Shape.of(bank_result(clock), None)
    plain = make_result(clock, reading=None)  # e.g. the shutdown result
    assert Shape.of(plain, shape).packs == shape.packs and Shape.of(plain, shape).meter
    three = bank_result(clock, packs=("pack1", "pack2", "pack3"), grid_power_w=None)
    assert [name for name, _ in Shape.of(three, shape).packs] == ["pack1", "pack2", "pack3"]
    assert Shape.of(three, shape).meter


# -- through a real broker -----------------------------------------------------------------------------


def test_a_bank_reaches_home_assistant_as_one_device_per_pack(broker, subscriber):
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port)
    pack2_soc = f"homeassistant/sensor/{BANK_NODE}_pack2/soc/config"
    pack3_online = f"homeassistant/binary_sensor/{BANK_NODE}_pack3/online/config"
    try:
        observer.gateway_cycle_completed(bank_result(clock, 1, offline=()))
        config = subscriber.wait_for(pack2_soc).json()
        assert config["device"]["via_device"] == BANK_NODE and config["state_topic"] == STATE
        state = subscriber.wait_for(STATE).json()
        assert state["packs"]["pack2"]["soc_pct"] == 61.0 and state["limits_ignored"] is True
        grid = subscriber.wait_for(f"homeassistant/sensor/{BANK_NODE}/grid_power/config").json()
        assert grid["unit_of_measurement"] == "W"
        # a third pack (a config change, a restart): its device is announced too
        clock.advance(1.0)
        observer.gateway_cycle_completed(bank_result(clock, 2, packs=("pack1", "pack2", "pack3"), offline=()))
        assert subscriber.wait_for(pack3_online).json()["device"]["name"] == "Battery testbat pack3"
        # back to two: the third pack's entities are removed
        clock.advance(1.0)
        observer.gateway_cycle_completed(bank_result(clock, 3, offline=(), ignored_by=()))
        assert subscriber.wait_for(pack3_online, lambda m: m.payload == b"").payload == b""
        final = subscriber.wait_for(STATE, lambda m: m.json()["cycle"] == 3).json()
        assert final["limits_ignored"] is False and set(final["packs"]) == {"pack1", "pack2"}
    finally:
        observer.close()


def test_obedience_change_alone_publishes_the_state_at_once(broker, subscriber):
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port, interval_s=60.0)
    try:
        observer.gateway_cycle_completed(bank_result(clock, 1, ignored_by=()))
        subscriber.wait_for(STATE, lambda m: m.json()["cycle"] == 1)
        clock.advance(1.0)
        observer.gateway_cycle_completed(bank_result(clock, 2, ignored_by=("inv2",)))
        state = subscriber.wait_for(STATE, lambda m: m.json()["cycle"] == 2).json()
        assert state["limits_ignored_by"] == ["inv2"]
    finally:
        observer.close()


def test_a_change_of_charge_state_packs_online_or_obedience_is_published_at_once():
    clock = FakeClock()
    base = bank_result(clock)
    assert publish_key(base) == publish_key(bank_result(clock, 2))
    for changed in (
        bank_result(clock, charge_state="float"),
        bank_result(clock, offline=()),
        bank_result(clock, ignored_by=("inv1", "inv2")),
    ):
        assert publish_key(changed) != publish_key(base)
    assert limits_key(base.limits) != limits_key(replace(base.limits, charge_state="bulk"))


def test_a_sink_report_problem_is_not_a_lost_inverter_link():
    clock = FakeClock()
    result = bank_result(clock)
    silent = Problem("sink", "inv1", "inverter silent on 0x305 for 12 s")
    assert build_state(replace(result, problems=(silent,)))["sink_ok"] is True
    down = SinkResult("inv2", "pylontech", False, None, (Problem("sink", "inv2", "bus off"),))
    assert build_state(replace(result, sinks=(result.sinks[0], down)))["sink_ok"] is False
