"""The charge limit override: command parsing and the pure apply step."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_core.model import Fault, LimitFlag, Limits
from mqtt_observer.commands import (
    CommandError,
    Override,
    OverrideBox,
    apply_override,
    parse_override_command,
)
from tests.plugins.mqtt_observer.helpers import ALLOW

NOW = 1000.0


def parse(payload: bytes | str) -> Override | None:
    data = payload.encode() if isinstance(payload, str) else payload
    return parse_override_command(data, now_s=NOW, default_duration_s=900.0, max_duration_s=3600.0)


def test_a_bare_number_uses_the_default_duration():
    assert parse("20") == Override(20.0, NOW + 900.0)
    assert parse(" 0 ") == Override(0.0, NOW + 900.0)


def test_a_json_object_names_current_and_duration():
    assert parse('{"charge_current_a": 12.5, "duration_s": 60}') == Override(12.5, NOW + 60.0)
    assert parse('{"charge_current_a": 5}') == Override(5.0, NOW + 900.0)


@pytest.mark.parametrize("payload", ["", "clear", "OFF", "none", " null "])
def test_clear_words_end_the_override(payload):
    assert parse(payload) is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("-1", "out of range"),
        ("20000", "out of range"),
        ("NaN", "finite"),
        ("1e999", "finite"),
        ("true", "must be a number"),
        ('"20"', "must be a number"),
        ("[20]", "must be a number"),
        ("twenty", "neither a number nor a JSON object"),
        ('{"charge_current_a": 5, "until": 3}', "unknown key(s) 'until'"),
        ('{"duration_s": 60}', "charge_current_a is missing"),
        ('{"charge_current_a": 5, "duration_s": 7200}', "duration_s = 7200 is out of range"),
        ('{"charge_current_a": 5, "duration_s": 0}', "duration_s = 0 is out of range"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(payload, message):
    with pytest.raises(CommandError, match=None) as info:
        parse(payload)
    assert message in str(info.value)


@given(st.binary(max_size=80) | st.text(max_size=40).map(str.encode))
def test_any_payload_is_accepted_or_refused_never_crashes(payload):
    try:
        override = parse(payload)
    except CommandError:
        return
    if override is not None:
        assert 0 <= override.charge_current_a <= 10000
        assert NOW + 1 <= override.expires_at_s <= NOW + 3600


@given(
    st.floats(0, 1e4, allow_nan=False),
    st.one_of(st.floats(1, 3600), st.integers(1, 3600)),
)
def test_valid_json_commands_round_trip(current, duration):
    override = parse(json.dumps({"charge_current_a": current, "duration_s": duration}))
    assert override == Override(current, NOW + float(duration))


# -- apply_override --------------------------------------------------------------------------------


def test_lowers_the_charge_current_and_says_why():
    limits = apply_override(ALLOW, Override(20.0, NOW + 10), NOW)
    assert limits.charge_current_a == 20.0
    assert limits.flags == ALLOW.flags
    assert (limits.discharge_current_a, limits.charge_voltage_v) == (60.0, 55.2)
    assert limits.reasons == ("fixed", "charge 20 A: MQTT override (policy allowed 50 A)")


def test_never_raises_a_limit():
    assert apply_override(ALLOW, Override(80.0, NOW + 10), NOW) is ALLOW


def test_zero_clears_the_charge_requests():
    allow = Limits(50, 60, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE | LimitFlag.FORCE_CHARGE)
    limits = apply_override(allow, Override(0.0, NOW + 10), NOW)
    assert limits.charge_current_a == 0 and limits.flags == LimitFlag.DISCHARGE


def test_expired_or_missing_overrides_change_nothing():
    assert apply_override(ALLOW, Override(20.0, NOW), NOW) is ALLOW
    assert apply_override(ALLOW, None, NOW) is ALLOW


def test_stop_limits_stay_stop_limits():
    stop = Limits.stop("stale", Fault.STALE_READING)
    assert apply_override(stop, Override(0.0, NOW + 10), NOW) is stop


currents = st.floats(0, 500, allow_nan=False)
flag_sets = st.sets(st.sampled_from(list(LimitFlag)), max_size=4)


@st.composite
def limits_strategy(draw):
    charge, discharge = draw(currents), draw(currents)
    flags = LimitFlag.NONE
    for flag in draw(flag_sets):
        flags |= flag
    if charge == 0:
        flags &= ~(LimitFlag.CHARGE | LimitFlag.FORCE_CHARGE | LimitFlag.FULL_CHARGE)
    if discharge == 0:
        flags &= ~LimitFlag.DISCHARGE
    fault = draw(st.none() | st.sampled_from(list(Fault)))
    if fault is not None:  # a fault only ever comes with stop limits
        return Limits.stop("p", fault)
    return Limits(charge, discharge, draw(st.none() | st.floats(40, 60)), None, flags, ("p",), fault)


@given(limits_strategy(), st.floats(0, 1e4, allow_nan=False), st.floats(-100, 100))
def test_apply_only_ever_lowers_the_charge_current(limits, amps, remaining):
    expires = NOW + remaining
    result = apply_override(limits, Override(amps, expires), NOW)
    assert result.charge_current_a <= limits.charge_current_a
    active = expires > NOW
    assert result.charge_current_a == (
        min(amps, limits.charge_current_a) if active else limits.charge_current_a
    )
    assert result.discharge_current_a == limits.discharge_current_a
    assert (result.charge_voltage_v, result.discharge_voltage_v) == (
        limits.charge_voltage_v,
        limits.discharge_voltage_v,
    )
    assert result.fault == limits.fault
    assert result.flags & ~limits.flags == LimitFlag.NONE  # nothing requested that was not
    assert math.isfinite(result.charge_current_a)


def test_box_drops_an_expired_override():
    box = OverrideBox()
    box.set(Override(20.0, NOW + 5))
    assert box.get(NOW + 4.9) == Override(20.0, NOW + 5)
    assert box.get(NOW + 5) is None
    assert box.get(NOW) is None  # gone for good, not back when asked with an older time
    box.set(Override(1.0, NOW + 5))
    box.set(None)
    assert box.get(NOW) is None
