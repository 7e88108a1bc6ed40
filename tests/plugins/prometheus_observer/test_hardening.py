"""The metrics endpoint against a taken port and hostile clients (issue 23, items 7, 11 and 21).

A taken port must never keep frames from the inverter: ``open()`` fails cleanly and can be called
again (the core retries it with backoff), and cycles are harmless meanwhile. The HTTP server holds a
bounded number of connections, each with a timeout, and never prints a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_core.model import CycleResult
from gateway_core.plugins import make_plugin_manager
from gateway_core.runner import build_gateway, run_gateway
from prometheus_observer.metrics import GatewayCollector, make_registry
from prometheus_observer.observer import bind_failure
from prometheus_observer.server import MAX_CONNECTIONS, MetricsServer
from tests.fakes import FakeClock
from tests.plugins.mqtt_observer.conftest import wait_until

from .helpers import make_observer, make_result, parse, rich_reading, scrape_http
from .test_gateway_run import FakePlugins

LOGGER = "gateway.prometheus.test"


@pytest.fixture
def taken_port() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 that holds a port."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        yield blocker
    finally:
        blocker.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_open_after_a_failed_bind_leaks_nothing_and_serves_once_the_port_is_free(taken_port, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    port = taken_port.getsockname()[1]
    clock = FakeClock()
    observer = make_observer(clock, opened=False, listen=f"127.0.0.1:{port}")
    fds, threads = open_fds(), threading.active_count()
    try:
        for cycle in range(1, 6):  # the core's retries, each after a cycle or more
            with pytest.raises(OSError) as info:
                observer.open()
            assert info.value.errno == errno.EADDRINUSE
            assert str(info.value) == (
                f"[Errno {errno.EADDRINUSE}] cannot serve metrics on 127.0.0.1:{port}: "
                "Address already in use (another program listens there: a second gateway, or node-exporter?)"
            )
            observer.gateway_cycle_completed(make_result(clock, cycle=cycle, reading=rich_reading(clock)))
            clock.advance(1.0)
        assert (open_fds(), threading.active_count()) == (fds, threads)
        assert observer.address is None
        assert caplog.records == []  # the core logs the failure once; neither open() nor a cycle does
        taken_port.close()
        observer.open()
        assert observer.address == ("127.0.0.1", port)
        assert scrape_http(observer).value("battery_gateway_cycles_total") == 5  # cycles while closed count
        assert [r.getMessage() for r in caplog.records] == [
            f"serving metrics on http://127.0.0.1:{port}/metrics (after 5 failed attempts)"
        ]
        observer.open()  # idempotent
    finally:
        observer.close()
    wait_until(lambda: threading.active_count() == threads, what="the server thread to end")
    assert open_fds() == fds - 1  # the blocker is closed too


def test_with_a_textfile_a_taken_port_keeps_the_observer_in_and_it_retries_the_endpoint(
    taken_port, caplog, tmp_path: Path
):
    # The core leaves an observer whose open() raised out until it opens: that would stop the
    # textfile too. With one configured, open() logs once and the observer retries by itself.
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    port = taken_port.getsockname()[1]
    path = tmp_path / "gateway.prom"
    clock = FakeClock()
    observer = make_observer(clock, listen=f"127.0.0.1:{port}", textfile=str(path), textfile_interval=0.0)
    try:
        fds, threads = open_fds(), threading.active_count()
        for cycle in range(1, 9):  # t = 0 .. 7 s; retries due at 1, 3 and 7 s (backoff 1, 2, 4)
            observer.gateway_cycle_completed(make_result(clock, cycle=cycle, reading=rich_reading(clock)))
            assert parse(path.read_text()).value("battery_gateway_cycles_total") == cycle
            clock.advance(1.0)
        assert observer.address is None and (open_fds(), threading.active_count()) == (fds, threads)
        assert [r.getMessage() for r in caplog.records] == [
            f"cannot serve metrics on 127.0.0.1:{port}: Address already in use (another program listens "
            "there: a second gateway, or node-exporter?); the textfile goes on, the endpoint is retried "
            "with backoff (logged once)"
        ]
        taken_port.close()
        for cycle in range(9, 16):  # the next attempt is due at t = 15 s (backoff 8)
            observer.gateway_cycle_completed(make_result(clock, cycle=cycle))
            assert observer.address is None
            clock.advance(1.0)
        observer.gateway_cycle_completed(make_result(clock, cycle=16))
        assert observer.address == ("127.0.0.1", port)
        assert scrape_http(observer).value("battery_gateway_cycles_total") == 16
        assert caplog.records[-1].getMessage() == (
            f"serving metrics on http://127.0.0.1:{port}/metrics (after 4 failed attempts)"
        )
    finally:
        observer.close()


def test_cycles_while_not_open_never_bind_the_port(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    observer = make_observer(clock, opened=False, listen=f"127.0.0.1:{port}")
    try:
        for cycle in range(1, 40):
            observer.gateway_cycle_completed(make_result(clock, cycle=cycle))
            clock.advance(1.0)
        assert observer.address is None and caplog.records == []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # still free: nobody but open() binds it
    finally:
        observer.close()


def test_a_taken_metrics_port_does_not_keep_frames_from_the_inverter(taken_port, tmp_path: Path):
    import prometheus_observer

    clock = FakeClock()
    pm = make_plugin_manager(entry_points=False)
    pm.register(prometheus_observer, name="prometheus")
    pm.register(FakePlugins(clock), name="fakes")
    results: list[CycleResult] = []
    gateway = build_gateway(
        pm,
        config_path=None,
        overrides=[
            'gateway.source="fake_source"',
            'gateway.policy="fake_policy"',
            'gateway.sink="fake_sink"',
            'gateway.observers=["prometheus"]',
            f'prometheus.listen="127.0.0.1:{taken_port.getsockname()[1]}"',
        ],
        clock=clock,
        threaded=False,
        max_cycles=5,
        on_cycle=results.append,
    )
    assert run_gateway(gateway, install_signals=False) == 0
    assert len(results) == 5 and all(result.published for result in results)


# -- bounded connections -----------------------------------------------------------------------------


def test_800_half_open_connections_hold_at_most_a_few_threads_and_scrapes_come_back():
    clock = FakeClock()
    observer = make_observer(clock)
    observer.gateway_cycle_completed(make_result(clock, reading=rich_reading(clock)))
    address = observer.address
    server = observer.server
    assert address is not None and server is not None
    baseline = threading.active_count()
    clients: list[socket.socket] = []
    try:
        for _ in range(800):  # connect and never send a request
            clients.append(socket.create_connection(address, timeout=5))
        wait_until(lambda: server.accepted == 800, what="all 800 accepted")
        assert threading.active_count() - baseline <= MAX_CONNECTIONS
        assert server.peak == MAX_CONNECTIONS
        # a slow machine may time out a held connection (5 s) and let the next one in
        assert server.refused >= 800 - 10 * MAX_CONNECTIONS
        busy = clients[-1].recv(200)
        assert busy.startswith(b"HTTP/1.0 503 Service Unavailable") and b"Retry-After: 5" in busy
    finally:
        for client in clients:
            client.close()
    try:  # the held slots are freed when their clients go away
        wait_until(lambda: server.active == 0, what="the connection threads to end")
        assert scrape_http(observer).value("battery_gateway_cycles_total") == 1
    finally:
        observer.close()


def test_an_idle_connection_is_closed_after_the_timeout():
    collector = GatewayCollector(time.monotonic, time.time)
    server = MetricsServer(("127.0.0.1", 0), make_registry(collector), max_connections=1, timeout_s=0.2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = (str(server.server_address[0]), int(server.server_address[1]))
    try:
        with socket.create_connection(address, timeout=5) as idle:
            idle.sendall(b"GET /metr")  # half a request line, then silence
            assert idle.recv(100) == b""  # the server gave up on it
        wait_until(lambda: server.active == 0, what="its slot to be freed")
        with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=5) as response:
            assert response.status == 200  # the only slot is free again
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_resets_garbage_and_huge_lines_never_print_a_traceback(capfd, monkeypatch):
    # A CLI test earlier in the run may leave a root handler on CliRunner's closed stderr, which
    # prints "--- Logging error ---" with a stack for every record: not ours to judge here.
    root = logging.getLogger()
    alive = [h for h in root.handlers if not getattr(getattr(h, "stream", None), "closed", False)]
    monkeypatch.setattr(root, "handlers", alive)
    clock = FakeClock()
    observer = make_observer(clock)
    observer.gateway_cycle_completed(make_result(clock, reading=rich_reading(clock)))
    address = observer.address
    assert address is not None
    try:
        for payload in (
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",  # then reset before reading the answer
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # a TLS ClientHello
            b"\xff\xfe\xfd\r\n\r\n",
            b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        ):
            for _ in range(10):
                client = socket.create_connection(address, timeout=5)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with contextlib.suppress(OSError):  # the server may have closed it first
                    client.sendall(payload)
                client.close()  # with linger 0: a reset
        server = observer.server
        assert server is not None
        wait_until(lambda: server.accepted == 50 and server.active == 0, what="all 50 to end")
        assert scrape_http(observer).value("battery_gateway_cycles_total") == 1
    finally:
        observer.close()
    # stderr is the process's: another test's leftover thread may write there; look for ours
    err = capfd.readouterr().err
    assert "Exception occurred during processing of request" not in err  # socketserver's banner
    for marker in ("socketserver.py", "http/server.py", "wsgiref", "prometheus_observer", "exposition.py"):
        assert marker not in err, err[-2000:]


@pytest.mark.parametrize(
    ("listen", "error", "expected"),
    [
        ("127.0.0.1:80", errno.EACCES, "(ports below 1024 need root; choose one above 1023, e.g. 9108)"),
        ("127.0.0.1:9108", errno.EAFNOSUPPORT, "the service's sandbox blocks IP"),
        ("127.0.0.1:9108", errno.EPERM, 'docs/raspberry-pi.md, "Observers need the network"'),
        ("127.0.0.1:9108", errno.EADDRNOTAVAIL, "cannot serve metrics on 127.0.0.1:9108: Cannot assign"),
    ],
)
def test_a_bind_failure_says_what_to_do(listen, error, expected):
    text = bind_failure(listen, OSError(error, os.strerror(error)))
    assert expected in text and "\n" not in text
