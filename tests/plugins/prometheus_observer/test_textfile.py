"""The node-exporter textfile: written when due, replaced atomically, failures logged once."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from tests.fakes import FakeClock

from .helpers import make_observer, make_result, parse, rich_reading


def test_written_on_the_first_cycle_then_every_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "battery.prom"
    observer = make_observer(clock, listen="", textfile=str(path), textfile_interval=10.0)
    reading = rich_reading(clock)
    observer.gateway_cycle_completed(make_result(clock, cycle=1, reading=reading))
    assert parse(path.read_text()).value("battery_gateway_pack_voltage_volts") == reading.voltage_v
    for cycle in range(2, 11):  # t = 1 .. 9 s: not due yet
        clock.advance(1.0)
        observer.gateway_cycle_completed(make_result(clock, cycle=cycle, reading=reading))
        assert parse(path.read_text()).value("battery_gateway_cycles_total") == 1
    clock.advance(1.0)
    observer.gateway_cycle_completed(make_result(clock, cycle=11, reading=reading))
    assert parse(path.read_text()).value("battery_gateway_cycles_total") == 11
    clock.advance(1.0)
    observer.gateway_cycle_completed(make_result(clock, cycle=12, reading=reading))
    observer.close()  # the final state is written on close
    assert parse(path.read_text()).value("battery_gateway_cycles_total") == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["battery.prom"]  # no .tmp left behind


def test_http_and_textfile_together(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "battery.prom"
    observer = make_observer(clock, textfile=str(path), textfile_interval=0.0)
    try:
        observer.gateway_cycle_completed(make_result(clock, reading=rich_reading(clock)))
        assert observer.address is not None
        assert path.read_bytes() == observer.render()
    finally:
        observer.close()


def test_a_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """Writes alternate between a big and a small exposition while a reader polls the file."""
    clock = FakeClock()
    path = tmp_path / "battery.prom"
    observer = make_observer(clock, listen="", textfile=str(path), textfile_interval=0.0)
    big = make_result(clock, reading=rich_reading(clock))
    small = make_result(clock, reading=None)
    observer.collector.update(big)
    big_text = observer.render().decode()
    observer.collector.update(small)
    small_text = observer.render().decode()
    assert len(big_text) > 2 * len(small_text)
    observer.gateway_cycle_completed(big)

    stop = threading.Event()
    seen: list[str] = []
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            text = path.read_text()
            seen.append(text)
            if text not in (big_text, small_text):
                bad.append(text)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for index in range(400):
            observer.gateway_cycle_completed(small if index % 2 else big)
    finally:
        stop.set()
        thread.join()
        observer.close()
    assert not bad, f"{len(bad)} partial reads, e.g. {len(bad[0])} chars"
    assert seen


def test_write_failures_are_logged_once_and_recover(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    path = tmp_path / "missing" / "battery.prom"
    observer = make_observer(clock, listen="", textfile=str(path), textfile_interval=1.0)
    with caplog.at_level(logging.INFO, logger="gateway.prometheus.test"):
        for cycle in range(1, 4):
            observer.gateway_cycle_completed(make_result(clock, cycle=cycle))
            clock.advance(1.0)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert str(path) in errors[0].getMessage()
        path.parent.mkdir()
        observer.gateway_cycle_completed(make_result(clock, cycle=4))
    assert parse(path.read_text()).value("battery_gateway_cycles_total") == 4
    assert "written again" in caplog.text
    with pytest.raises(OSError):
        make_observer(clock, listen="", textfile=str(tmp_path / "nope" / "x.prom")).write_textfile()
    observer.close()
