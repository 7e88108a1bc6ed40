"""The sma_em meter over a real UDP socket on 127.0.0.1 (unicast: group ""; never the LAN or a group)."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from gateway_core.errors import StartupError
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import GridMeter, PluginContext
from gateway_core.settings import build_section
from sma_em.config import SmaEmConfig
from sma_em.meter import LOG_EVERY_S, SmaEmMeter
from sma_em.simulate import UnicastSender, datagram, grid_datagram
from tests.fakes import FakeClock

from .helpers import DATAGRAMS, free_udp_port, send, wait_until

LOGGER = "t.sma_em"


@pytest.fixture
def port() -> int:
    return free_udp_port()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=500.0)


def make_meter(port: int, clock: FakeClock, **config) -> SmaEmMeter:
    cfg = SmaEmConfig(group="", listen=f"127.0.0.1:{port}", **config)
    return SmaEmMeter(cfg, PluginContext("sma_em", clock, logging.getLogger(LOGGER), plugin="sma_em"))


@pytest.fixture
def meter(port, clock):
    m = make_meter(port, clock)
    m.open()
    yield m
    m.close()


def test_datagrams_sent_to_127_0_0_1_arrive_and_latest_follows_them(meter, port, clock):
    assert meter.latest() is None
    send(port, DATAGRAMS["em10_import_1054w"])
    wait_until(lambda: meter.latest() is not None, "the first reading")
    first = meter.latest()
    assert first is not None
    assert (first.grid_power_w, first.phase_powers_w) == (1054.6, (344.3, 592.7, 117.6))
    assert first.taken_at_s == 500.0  # the injected clock when it arrived
    assert first.meter_id == "sma_em:1901429669"
    clock.advance(1.0)
    send(port, datagram(1901429669, 0.0, 250.0, [-250.0]))
    wait_until(lambda: meter.latest() is not first, "the second reading")
    second = meter.latest()
    assert second is not None and (second.grid_power_w, second.taken_at_s) == (-250.0, 501.0)


def test_silence_keeps_the_old_value_with_its_old_time(meter, port, clock):
    send(port, grid_datagram(600.0, serial=1901429669))
    wait_until(lambda: meter.latest() is not None, "a reading")
    before = meter.latest()
    clock.advance(60.0)  # a minute of silence: the engine's meter_stale_after makes it absent
    assert meter.latest() is before
    assert before is not None and before.taken_at_s == 500.0


def test_a_refused_datagram_changes_nothing_and_is_logged_once_per_reason(meter, port, clock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    send(port, grid_datagram(100.0))
    wait_until(lambda: meter.accepted == 1, "a reading")
    good = meter.latest()
    real = DATAGRAMS["em10_import_1054w"]
    bad = real[:300]
    send(port, *[bad] * 5, b"garbage", real[:16] + b"\x60\x65" + real[18:])  # an inverter's protocol
    wait_until(lambda: meter.refused == 7, "the refusals")
    assert meter.latest() is good
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.getMessage().split("refused ")[1][:11] for r in lines] == [
        "(truncated)",
        "(foreign): ",
        "(protocol):",
    ]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO, logging.INFO]
    clock.advance(LOG_EVERY_S)
    send(port, bad)
    wait_until(lambda: meter.refused == 8, "one more refusal")
    again = [r.getMessage() for r in caplog.records if "refused (truncated)" in r.getMessage()]
    assert len(again) == 2 and "4 more since the last report" in again[1]


def test_the_serial_filter_takes_only_that_meter(port, clock):
    meter = make_meter(port, clock, serial=1900243374)
    meter.open()
    try:
        send(port, DATAGRAMS["em10_import_1054w"], DATAGRAMS["em_susy270_export_1743w"])
        wait_until(lambda: meter.latest() is not None, "the chosen meter")
        reading = meter.latest()
        assert reading is not None and reading.grid_power_w == -1742.9
        send(port, DATAGRAMS["em10_import_1054w"])
        send(port, DATAGRAMS["em_susy270_export_1743w"])
        wait_until(lambda: meter.accepted == 2, "the second datagram of the chosen meter")
        assert meter.latest() is not None and meter.latest().grid_power_w == -1742.9  # type: ignore[union-attr]
    finally:
        meter.close()


def test_with_serial_0_the_first_meter_heard_is_used_and_another_is_warned_about_once(meter, port, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    send(port, DATAGRAMS["em10_import_1054w"])
    wait_until(lambda: meter.accepted == 1, "the first meter")
    send(port, *[DATAGRAMS["em_susy270_export_1743w"]] * 3, DATAGRAMS["em10_import_1054w"])
    wait_until(lambda: meter.accepted == 2, "the first meter again")
    reading = meter.latest()
    assert reading is not None and reading.grid_power_w == 1054.6  # values never mix
    warnings = [r.getMessage() for r in caplog.records]
    assert (
        len(warnings) == 1 and "ignoring meter 1900243374" in warnings[0] and "sma_em.serial" in warnings[0]
    )


def test_latest_never_blocks_while_datagrams_pour_in(meter, port):
    sender = UnicastSender(("127.0.0.1", port), period_s=0.001).start()
    try:
        wait_until(lambda: meter.accepted > 20, "a stream of datagrams")
        calls = [meter.latest() for _ in range(10_000)]  # a lock or a socket call here would stall
        assert all(c is not None for c in calls)
    finally:
        sender.stop()


def test_a_port_that_cannot_be_bound_is_one_startup_line(port, clock):
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", port))  # without SO_REUSEADDR: the meter's bind fails
    try:
        meter = make_meter(port, clock)
        with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port}") as info:
            meter.open()
        assert "\n" not in str(info.value)
        meter.close()
    finally:
        holder.close()


def test_close_is_idempotent_and_stops_the_receiver(port, clock):
    meter = make_meter(port, clock)
    meter.open()
    meter.open()  # already open: nothing more
    receivers = [t for t in threading.enumerate() if t.name == "sma_em-rx"]
    assert len(receivers) == 1
    meter.close()
    meter.close()
    assert not receivers[0].is_alive()
    send(port, grid_datagram(5.0))
    assert meter.latest() is None


def test_the_registered_meter_builds_from_defaults_without_io():
    entry = collect_registrations(make_plugin_manager()).entries["sma_em"]
    assert entry.role == "meter" and entry.config is SmaEmConfig
    meter = entry.factory(
        build_section(SmaEmConfig, "sma_em", {}),
        PluginContext("sma_em", FakeClock(), logging.getLogger(LOGGER)),
    )
    assert isinstance(meter, GridMeter)
    assert meter.latest() is None
    meter.close()


class FlakySocket:
    """recvfrom fails twice (network down), then delivers one datagram, then the socket is closed."""

    def __init__(self, meter: SmaEmMeter) -> None:
        self.meter = meter
        self.calls = 0

    def recvfrom(self, _size: int) -> tuple[bytes, tuple[str, int]]:
        self.calls += 1
        if self.calls <= 2:
            raise OSError(100, "Network is down")
        if self.calls == 3:
            return grid_datagram(321.0), ("127.0.0.1", 9522)
        raise ValueError("I/O operation on closed socket")


def test_a_network_error_is_logged_once_and_receiving_goes_on(port, clock, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    meter = make_meter(port, clock)
    monkeypatch.setattr("sma_em.meter.select.select", lambda r, w, x, t: (r, [], []))
    monkeypatch.setattr("sma_em.meter.RETRY_S", 0.0)
    fake = FlakySocket(meter)
    meter._receive(fake)  # type: ignore[arg-type]  # returns when the socket is closed
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "receiving failed: [Errno 100] Network is down; retrying (the meter is absent meanwhile)",
        "receiving again",
    ]
    reading = meter.latest()
    assert reading is not None and reading.grid_power_w == 321.0
