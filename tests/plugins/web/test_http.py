"""The HTTP server on 127.0.0.1: routes, status codes, content types, read-only, limits, start-up."""

from __future__ import annotations

import json
import socket
import time

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.errors import StartupError
from gateway_core.plugins import make_plugin_manager
from tests.fakes import FakeClock

from .helpers import ALLOW, WALL_NOW, get_json, make_observer, make_result, request, rich_reading, stop_result

STATIC = {
    "/": "text/html; charset=utf-8",
    "/index.html": "text/html; charset=utf-8",
    "/app.js": "text/javascript; charset=utf-8",
    "/chart.js": "text/javascript; charset=utf-8",
    "/style.css": "text/css; charset=utf-8",
    "/favicon.svg": "image/svg+xml",
}


@pytest.fixture
def served():
    """A fresh observer serving on a free port."""
    clock = FakeClock(5000.0)
    observer = make_observer(clock)
    observer.open()
    try:
        yield observer, clock
    finally:
        observer.close()


@pytest.fixture(scope="module")
def shared():
    """One observer for the many parametrised route checks (each start and stop costs a poll interval)."""
    clock = FakeClock(5000.0)
    observer = make_observer(clock)
    observer.open()
    try:
        yield observer, clock
    finally:
        observer.close()


@pytest.mark.parametrize("path", sorted(STATIC))
def test_static_files_with_their_content_types_and_headers(shared, path) -> None:
    observer, _ = shared
    response = request(observer, "GET", path)
    assert response.status == 200
    assert response.headers["Content-Type"] == STATIC[path]
    assert int(response.headers["Content-Length"]) == len(response.body) > 0
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Server"] == "battery-gateway-web"  # no Python version


def test_the_page_loads_nothing_from_elsewhere(shared) -> None:
    observer, _ = shared
    for path in ("/", "/app.js", "/chart.js", "/style.css"):
        text = request(observer, "GET", path).body.decode()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


@pytest.mark.parametrize("path", ["/nope", "/api", "/api/state/x", "/../pyproject.toml", "/static/app.js"])
def test_unknown_paths_are_404(shared, path) -> None:
    observer, _ = shared
    response = request(observer, "GET", path)
    assert response.status == 404
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO"])
@pytest.mark.parametrize("path", ["/", "/api/state", "/nope"])
def test_every_method_but_get_is_405(shared, method, path) -> None:
    observer, clock = shared
    observer.gateway_cycle_completed(make_result(clock, reading=rich_reading(clock)))
    before = observer.store.state()
    response = request(observer, method, path, body=b'{"charge_current_a": 999}')
    assert response.status == 405
    assert response.headers["Allow"] == "GET"
    after = observer.store.state()
    assert after["limits"] == before["limits"]  # nothing changed


def test_state_json_matches_the_simulated_reading(served) -> None:
    observer, clock = served
    reading = rich_reading(clock)
    observer.gateway_cycle_completed(make_result(clock, cycle=3, reading=reading, peer_seen_at_s=clock.now()))
    clock.advance(0.5)
    state = get_json(observer, "/api/state")

    assert state["cycle"] == 3
    assert state["reading"]["voltage_v"] == reading.voltage_v
    assert state["reading"]["current_a"] == reading.current_a
    assert state["reading"]["cell_voltages_v"] == list(reading.cell_voltages_v)
    assert state["reading"]["temperatures_c"] == list(reading.temperatures_c)
    assert state["limits"]["reasons"] == list(ALLOW.reasons)
    assert state["limits"]["charge_current_a"] == ALLOW.charge_current_a
    assert state["age_s"] == pytest.approx(0.5)  # taken when asked, not when the cycle ran


def test_state_before_the_first_cycle_and_after_a_failsafe(served) -> None:
    observer, clock = served
    assert get_json(observer, "/api/state") == {"schema": 1, "cycle": 0, "period_s": 1.0, "waiting": True}
    observer.gateway_cycle_completed(stop_result(clock, cycle=1, reason="no reading yet"))
    state = get_json(observer, "/api/state")
    assert state["failsafe"] == {"fault": "stale_reading", "reasons": ["no reading yet"]}


def test_history_json_has_the_minute_series_in_wall_time(served) -> None:
    observer, clock = served
    observer.gateway_cycle_completed(make_result(clock, cycle=1, reading=rich_reading(clock)))
    clock.advance(60.0)
    observer.gateway_cycle_completed(stop_result(clock, cycle=2))
    history = get_json(observer, "/api/history")
    assert history["now"] == WALL_NOW
    assert len(history["t"]) == 2 and history["t"][-1] <= WALL_NOW
    assert history["failsafe"] == [False, True]
    assert history["voltage_v"][1] is None


def test_query_strings_are_ignored(shared) -> None:
    observer, _ = shared
    assert request(observer, "GET", "/api/state?t=123").status == 200


def test_a_hostile_string_stays_a_json_string(served) -> None:
    observer, clock = served
    hostile = '</script><img src=x onerror="alert(1)">\u2028"\\'
    observer.gateway_cycle_completed(make_result(clock, limits=stop_result(clock, reason=hostile).limits))
    body = request(observer, "GET", "/api/state").body
    assert json.loads(body)["failsafe"]["reasons"] == [hostile]


def test_more_connections_than_allowed_get_503_at_once() -> None:
    clock = FakeClock()
    observer = make_observer(clock, max_connections=2, timeout=5.0)
    observer.open()
    address = observer.address
    assert address is not None
    idle = [socket.create_connection(address, timeout=5) for _ in range(2)]  # say nothing: hold both slots
    try:
        deadline = time.monotonic() + 5
        while True:  # the server takes the two idle connections on its accepting thread, in order
            response = request(observer, "GET", "/api/state")
            if response.status == 503 or time.monotonic() > deadline:
                break
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
    finally:
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 5
        while request(observer, "GET", "/api/state").status != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request(observer, "GET", "/api/state").status == 200  # the slots came back
        observer.close()


def test_a_silent_client_is_cut_after_the_timeout() -> None:
    clock = FakeClock()
    observer = make_observer(clock, timeout=0.5)
    observer.open()
    try:
        assert observer.address is not None
        with socket.create_connection(observer.address, timeout=10) as sock:
            sock.sendall(b"GET /api/state HTTP/1.0\r\n")  # never ends its headers
            assert sock.recv(100) == b""  # closed by the server, well before our own 10 s
    finally:
        observer.close()


def test_a_taken_port_refuses_the_start() -> None:
    clock = FakeClock()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        observer = make_observer(clock, listen=f"127.0.0.1:{port}")
        with pytest.raises(
            StartupError, match=rf"\[web\] listen = '127.0.0.1:{port}': cannot serve the page: "
        ):
            observer.open()
        observer.close()


def test_the_cli_exits_2_with_one_line_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            build_app(make_plugin_manager()),
            [
                "run",
                "--source",
                "jk_uart",
                "--sink",
                "pylontech",
                "--set",
                'jk_uart.port="jksim://?cells=16"',
                "--set",
                "pylontech.interface=virtual",
                "--set",
                'gateway.observers=["web"]',
                "--set",
                f"web.listen=127.0.0.1:{port}",
                "--cycles",
                "1",
            ],
        )
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("gateway: error: ")]
    assert f"[web] listen = '127.0.0.1:{port}'" in line and "in use" in line


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8080", "is not host:port"),
        ("localhost:99999", "port must be 0 to 65535"),
        (":8080", "is not host:port"),
    ],
)
def test_a_bad_listen_value_is_one_line_and_exit_2(value, message) -> None:
    result = CliRunner().invoke(
        build_app(make_plugin_manager()),
        ["config", "show", "--set", 'gateway.observers=["web"]', "--set", f'web.listen="{value}"'],
    )
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "[web]" in line and message in line


def test_an_empty_listen_turns_the_page_off() -> None:
    clock = FakeClock()
    observer = make_observer(clock, listen="")
    observer.open()
    observer.gateway_cycle_completed(make_result(clock))
    assert observer.address is None and observer.url is None
    observer.close()


def test_close_is_idempotent_and_frees_the_port(served) -> None:
    observer, _ = served
    address = observer.address
    assert address is not None
    observer.close()
    observer.close()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(address)  # nobody listens there any more
    observer.open()  # a closed observer stays closed
    assert observer.address is None
