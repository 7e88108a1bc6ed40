"""Reading the grid power from MQTT payloads (pure), and the ``[mqtt_meter]`` config's checks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_core.errors import ConfigError
from gateway_core.settings import build_section
from mqtt_meter.config import MqttMeterConfig, path_segments
from mqtt_meter.payload import MAX_POWER_W, REASONS, PayloadError, grid_power, parse_power

CAP = 4096


def power(payload: bytes | str, json_path: str = "", *, scale: float = 1.0, invert: bool = False) -> float:
    raw = payload.encode() if isinstance(payload, str) else payload
    return grid_power(raw, path_segments(json_path), max_bytes=CAP, scale=scale, invert=invert)


def refused(payload: bytes | str, json_path: str = "", **kwargs) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        power(payload, json_path, **kwargs)
    assert info.value.reason in REASONS and "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("payload", "json_path", "watts"),
    [
        ("1234.5", "", 1234.5),  # Shelly Gen1 shellies/<id>/emeter/0/power, a Home Assistant state
        (" -87 \n", "", -87.0),
        ("+12e2", "", 1200.0),
        (
            '{"Time":"2024-05-01T12:00:00","ENERGY":{"Power":-321,"Voltage":230}}',
            "ENERGY.Power",
            -321.0,
        ),  # Tasmota
        ('{"id":0,"a_act_power":100.1,"total_act_power":456.7}', "total_act_power", 456.7),  # Shelly Pro 3EM
        ('{"SML":{"Power_curr":"789"}}', "SML.Power_curr", 789.0),  # a number sent as a string
        ('{"emeters":[{"power":11.5},{"power":22.5}]}', "emeters.1.power", 22.5),  # Shelly 3EM status
    ],
)
def test_the_power_is_read_as_meters_publish_it(payload, json_path, watts):
    assert power(payload, json_path) == watts


def test_invert_and_scale():
    assert power("500", invert=True) == -500.0
    assert power("1.5", scale=1000.0) == 1500.0  # a payload in kW
    assert power('{"p": -0.25}', "p", scale=1000.0, invert=True) == 250.0


@pytest.mark.parametrize(
    ("payload", "json_path", "reason"),
    [
        ("unavailable", "", "not_a_number"),  # Home Assistant while the sensor is gone
        ("unknown", "", "not_a_number"),
        ("NaN", "", "not_a_number"),
        ("inf", "", "not_a_number"),
        ("1e999", "", "not_a_number"),
        ("1" + "0" * 400, "", "not_a_number"),
        ("0x1F", "", "not_a_number"),
        ("1_000", "", "not_a_number"),
        ("", "", "empty"),
        ("   ", "", "empty"),
        ('{"power": 5}', "", "not_a_number"),  # JSON without a json_path
        ("2000000", "", "implausible"),
        ('{"ENERGY":{"Power":true}}', "ENERGY.Power", "not_a_number"),
        ('{"ENERGY":{"Power":null}}', "ENERGY.Power", "not_a_number"),
        ('{"ENERGY":{"Power":[1]}}', "ENERGY.Power", "not_a_number"),
        ('{"ENERGY":{"Power":NaN}}', "ENERGY.Power", "json"),
        ('{"ENERGY":{"Power":1e999}}', "ENERGY.Power", "not_a_number"),
        ('{"ENERGY":{"Power":1' + "0" * 400 + "}}", "ENERGY.Power", "not_a_number"),
        ('{"ENERGY":{"Voltage":230}}', "ENERGY.Power", "path"),
        ('{"emeters":[]}', "emeters.0.power", "path"),
        ("[1, 2", "a", "json"),
        ("[" * 3000 + "]" * 3000, "a", "too_large"),
        ("[" * 2000 + "]" * 2000, "a", "json"),  # nested past the parser's recursion limit
        ("12", "ENERGY.Power", "path"),  # a plain number while a key path is configured
        ('"12"', "ENERGY.Power", "path"),
    ],
)
def test_what_is_no_usable_power_is_refused_with_a_reason(payload, json_path, reason):
    assert refused(payload, json_path).reason == reason


def test_a_payload_over_the_cap_is_refused_before_it_is_read():
    error = refused(b"1" * (CAP + 1))
    assert error.reason == "too_large" and f"{CAP + 1} bytes" in str(error)
    assert refused(b"\xff\xfe1").reason == "encoding"


@given(payload=st.binary(max_size=300), json_path=st.sampled_from(["", "a", "ENERGY.Power", "x.0.y"]))
def test_any_payload_gives_a_bounded_power_or_a_reason(payload, json_path):
    try:
        watts = power(payload, json_path)
    except PayloadError as exc:
        assert exc.reason in REASONS and "\n" not in str(exc)
        return
    assert abs(watts) <= MAX_POWER_W


KEYS = st.sampled_from(["ENERGY", "Power", "0"])
LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)


@given(
    document=st.recursive(
        LEAVES,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=30,
    )
)
def test_any_json_document_gives_a_bounded_power_or_a_reason(document):
    text = json.dumps(document)
    for json_path in ("ENERGY.Power", "0", "Power"):
        try:
            watts = parse_power(text.encode(), path_segments(json_path), max_bytes=CAP)
        except PayloadError as exc:
            assert exc.reason in REASONS
            continue
        assert watts == watts and abs(watts) != float("inf")


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"topic": "tele/+/SENSOR"}, "must name one topic"),
        ({"topic": "meters/#"}, "must name one topic"),
        ({"json_path": "ENERGY..Power"}, "expected keys joined by '.'"),
        ({"json_path": ".Power"}, "expected keys joined by '.'"),
        ({"password": "x"}, "password is set but username is not"),
        ({"tls_insecure": True}, "need tls = true"),
        ({"scale": 0.0}, "out of range"),
        ({"max_payload_bytes": 10**9}, "out of range"),
        ({"stale_after_s": 0.0}, "out of range"),
        ({"host": ""}, "host must not be empty"),
    ],
)
def test_the_config_is_checked_in_one_line(values, text):
    with pytest.raises(ConfigError, match=text) as info:
        build_section(MqttMeterConfig, "mqtt_meter", values)
    assert "\n" not in str(info.value)


def test_the_defaults_build_and_keep_the_mqtt_observers_key_names():
    from dataclasses import fields

    cfg = build_section(MqttMeterConfig, "mqtt_meter", {})
    assert (cfg.topic, cfg.json_path, cfg.invert, cfg.stale_after_s) == ("", "", False, 10.0)
    broker_keys = [
        "host",
        "port",
        "username",
        "password",
        "tls",
        "tls_ca_file",
        "tls_insecure",
        "keepalive_s",
    ]
    assert [f.name for f in fields(MqttMeterConfig)][: len(broker_keys)] == broker_keys
