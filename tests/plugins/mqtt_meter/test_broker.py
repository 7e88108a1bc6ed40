"""The mqtt_meter against a real mosquitto on 127.0.0.1: number, JSON path, inverted sign, refusals."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import GridMeter, PluginContext
from gateway_core.settings import build_section
from mqtt_meter import payload
from mqtt_meter.config import MqttMeterConfig
from mqtt_meter.meter import LOG_EVERY_S, MqttMeter
from tests.fakes import FakeClock

from .conftest import WAIT_S, Broker, Publisher

LOGGER = "t.mqtt_meter"
TOPIC = "tele/grid-meter/SENSOR"


def wait_until(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=100.0)


@pytest.fixture
def make(broker: Broker, clock: FakeClock):
    made: list[MqttMeter] = []

    def build(**values) -> MqttMeter:
        cfg = build_section(
            MqttMeterConfig,
            "mqtt_meter",
            {"host": "127.0.0.1", "port": broker.port, "topic": TOPIC, **values},
        )
        meter = MqttMeter(
            cfg, PluginContext("mqtt_meter", clock, logging.getLogger(LOGGER), plugin="mqtt_meter")
        )
        made.append(meter)
        meter.open()
        wait_until(lambda: meter._client.is_connected(), "the meter to connect")
        time.sleep(0.1)  # the SUBACK: a message published before it would not reach us
        return meter

    yield build
    for meter in made:
        meter.close()


def publish_and_wait(
    publisher: Publisher, meter: MqttMeter, payload: str | bytes, *, retain: bool = False
) -> None:
    before = meter.accepted + meter.refused
    publisher.publish(TOPIC, payload, retain=retain)
    wait_until(lambda: meter.accepted + meter.refused > before, f"the meter to take {payload!r}")


def test_a_number_payload_becomes_the_grid_power(make, publisher, clock):
    meter = make()
    assert meter.latest() is None
    publish_and_wait(publisher, meter, "1234.5")
    reading = meter.latest()
    assert reading is not None
    assert (reading.grid_power_w, reading.taken_at_s, reading.meter_id) == (
        1234.5,
        100.0,
        f"mqtt_meter:{TOPIC}",
    )
    clock.advance(2.0)
    publish_and_wait(publisher, meter, "-80")
    assert meter.latest() is not None and (meter.latest().grid_power_w, meter.latest().taken_at_s) == (
        -80.0,
        102.0,
    )


def test_a_json_path_payload_as_tasmota_sends_it(make, publisher):
    meter = make(json_path="ENERGY.Power")
    publish_and_wait(publisher, meter, '{"Time":"2024-05-01T12:00:00","ENERGY":{"Total":12.3,"Power":-642}}')
    assert meter.latest() is not None and meter.latest().grid_power_w == -642.0


def test_an_inverted_sign_for_a_meter_that_counts_export_positive(make, publisher):
    meter = make(json_path="total_act_power", invert=True)
    publish_and_wait(publisher, meter, '{"id":0,"total_act_power":350.5}')
    assert meter.latest() is not None and meter.latest().grid_power_w == -350.5


def test_a_non_numeric_payload_is_refused_in_one_line_and_the_last_value_ages_out(
    make, publisher, clock, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    meter = make(stale_after_s=10.0)
    publish_and_wait(publisher, meter, "400")
    good = meter.latest()
    for _ in range(5):
        publish_and_wait(publisher, meter, "unavailable")
    assert meter.latest() is good  # still fresh: kept
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and "(not_a_number)" in lines[0] and "'unavailable' is not a number" in lines[0]
    clock.advance(10.5)
    assert meter.latest() is None  # older than stale_after_s: no meter
    clock.advance(LOG_EVERY_S)
    publish_and_wait(publisher, meter, "unavailable")
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 2 and "4 more since the last report" in lines[1]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"9" * 5000, "too_large"),
        (b"1e999", "not_a_number"),
        (b"1" + b"0" * 400, "not_a_number"),
        (b"\xff\xfe", "encoding"),
    ],
)
def test_hostile_payloads_are_refused_and_change_nothing(make, publisher, caplog, payload, reason):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    meter = make()
    publish_and_wait(publisher, meter, "10")
    publish_and_wait(publisher, meter, payload)
    assert meter.latest() is not None and meter.latest().grid_power_w == 10.0
    assert any(f"({reason})" in r.getMessage() for r in caplog.records)


def test_a_retained_value_is_ignored_unless_accepted(broker, publisher, make, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    publisher.publish(TOPIC, "777", retain=True)
    meter = make()
    wait_until(lambda: any("retained" in r.getMessage() for r in caplog.records), "the retained message")
    assert meter.latest() is None
    accepting = make(accept_retained=True)
    wait_until(lambda: accepting.latest() is not None, "the retained value")
    assert accepting.latest().grid_power_w == 777.0


def test_an_exception_in_the_callback_is_contained_and_the_subscription_goes_on(
    make, publisher, monkeypatch, caplog
):
    meter = make()
    real = payload.grid_power
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OverflowError("a bug in the parser")
        return real(*args, **kwargs)

    monkeypatch.setattr("mqtt_meter.meter.grid_power", flaky)
    publisher.publish(TOPIC, "1")
    wait_until(lambda: any("contained" in r.getMessage() for r in caplog.records), "the contained error")
    publish_and_wait(publisher, meter, "55")
    assert meter.latest() is not None and meter.latest().grid_power_w == 55.0


def test_the_meter_resubscribes_after_the_broker_restarts(broker, make, clock):
    meter = make(reconnect_max_s=1)
    broker.kill()
    wait_until(lambda: not meter._client.is_connected(), "the meter to notice")
    broker.start()
    wait_until(lambda: meter._client.is_connected(), "the reconnect")
    time.sleep(0.2)
    pub = Publisher(broker.port)
    try:
        publish_and_wait(pub, meter, "42")
    finally:
        pub.close()
    assert meter.latest() is not None and meter.latest().grid_power_w == 42.0


def test_open_never_blocks_on_a_broker_that_is_down(clock):
    cfg = build_section(MqttMeterConfig, "mqtt_meter", {"host": "127.0.0.1", "port": 9, "topic": TOPIC})
    meter = MqttMeter(cfg, PluginContext("mqtt_meter", clock, logging.getLogger(LOGGER)))
    started = time.monotonic()
    meter.open()
    assert time.monotonic() - started < 1.0  # a bound on a hang, not a speed measurement
    assert meter.latest() is None
    meter.close()
    meter.close()


def test_the_registered_meter_fits_the_role_and_needs_a_topic():
    entry = collect_registrations(make_plugin_manager()).entries["mqtt_meter"]
    ctx = PluginContext("mqtt_meter", FakeClock(), logging.getLogger(LOGGER), plugin="mqtt_meter")
    with pytest.raises(ValueError, match=r"mqtt_meter\.topic is not set"):
        entry.factory(build_section(MqttMeterConfig, "mqtt_meter", {}), ctx)
    meter = entry.factory(build_section(MqttMeterConfig, "mqtt_meter", {"topic": TOPIC}), ctx)
    assert isinstance(meter, GridMeter)
    meter.close()


def test_a_run_with_the_meter_but_no_topic_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(
        build_app(make_plugin_manager()),
        ["run", "--source", "jk_uart", "--sink", "pylontech", "--set", "gateway.meter=mqtt_meter",
         "--set", "pylontech.interface=virtual", "--cycles", "1"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mqtt_meter.topic is not set" in lines[0]
