"""Why the broker cannot be reached, said in the log (issue 22; issue 23 item 16).

Each reason is produced for real where a machine can produce it: a closed port (refused), a listener
whose backlog is full (timeout), a ``.invalid`` name (DNS), a mosquitto with a self-signed certificate
and a plain port spoken to with TLS (TLS), a server that takes TCP and never answers (no CONNACK), and
a broker that knows only MQTT 3.1.1. The sandbox's EPERM cannot be produced without systemd, so it is
injected at ``socket.create_connection``, where paho meets it.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho_client
import pytest

from mqtt_observer.diagnose import Target, connect_failure, sandbox_hint
from tests.fakes import FakeClock
from tests.plugins.mqtt_observer.conftest import (
    WAIT_S,
    Broker,
    Subscriber,
    find_mosquitto,
    free_port,
    wait_until,
)
from tests.plugins.mqtt_observer.helpers import make_observer, make_result

DROP_IN = 'docs/raspberry-pi.md, "Observers need the network": sudo systemctl edit battery-gateway'


def first_outage_line(caplog: pytest.LogCaptureFixture, clock: FakeClock | None = None, observer=None) -> str:
    """Wait for the one "retrying in the background" warning and return it (cycling, when given)."""
    found: list[str] = []

    def check() -> bool:
        if observer is not None and clock is not None:
            clock.advance(1.0)
            observer.gateway_cycle_completed(make_result(clock))
        found[:] = [r.getMessage() for r in caplog.records if "retrying in the background" in r.getMessage()]
        return bool(found)

    wait_until(check, what="the outage warning")
    return found[0]


def run_until_warned(caplog: pytest.LogCaptureFixture, **config: object) -> str:
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    clock = FakeClock()
    observer = make_observer(clock, **config)
    try:
        observer.gateway_cycle_completed(make_result(clock))
        return first_outage_line(caplog)
    finally:
        observer.close()


# -- the words, from each kind of exception ---------------------------------------------------------

TARGET = Target("192.168.1.10", 1883, tls=False, timeout_s=5.0)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "DNS: cannot resolve"),
        (TimeoutError("timed out"), "timeout: no answer within 5 s"),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
            "connection refused: nothing listens",
        ),
        (PermissionError(errno.EPERM, "Operation not permitted"), "IPAddressDeny=any"),
        (PermissionError(errno.EACCES, "Permission denied"), "IPAddressAllow=192.168.1.10"),
        (OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol"), "RestrictAddressFamilies="),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "Network is unreachable (check the address"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS handshake failed"),
        (OSError(errno.EIO, "Input/output error"), "cannot connect: Input/output error"),
        (None, "cannot connect (no reason given)"),
    ],
)
def test_each_failure_is_named(exc, expected):
    text = connect_failure(exc, TARGET)
    assert expected in text and "\n" not in text


def test_an_ssl_error_is_tls_even_when_its_code_looks_like_eperm():
    # OpenSSL's error code 1 is not errno 1 (EPERM): no sandbox hint for a TLS failure.
    text = connect_failure(ssl.SSLError(errno.EPERM, "[SSL] record layer failure"), TARGET)
    assert text.startswith("TLS handshake failed") and "sandbox" not in text


def test_a_reset_during_tls_is_a_tls_failure():
    text = connect_failure(ConnectionResetError(errno.ECONNRESET, "reset"), Target("b", 1883, tls=True))
    assert text.startswith("TLS handshake failed: the broker closed the connection")


def test_the_sandbox_hint_names_the_drop_in_and_the_address():
    assert DROP_IN in sandbox_hint("10.0.0.2") and "IPAddressAllow=10.0.0.2" in sandbox_hint("10.0.0.2")
    assert "IPAddressAllow=localhost" in sandbox_hint("localhost")
    assert "IPAddressAllow=<the broker's address>" in sandbox_hint("broker.lan")


# -- for real --------------------------------------------------------------------------------------


def test_a_closed_port_says_refused(caplog):
    line = run_until_warned(caplog, port=free_port())
    assert "connection refused: nothing listens on port" in line and "cannot connect;" not in line


def test_an_unknown_host_says_dns(caplog):
    line = run_until_warned(caplog, host="broker.invalid")
    assert "MQTT broker broker.invalid:1883: DNS: cannot resolve 'broker.invalid'" in line


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: the kernel drops further SYNs, so a connect times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_a_connect_that_times_out_says_timeout(caplog, full_backlog):
    line = run_until_warned(caplog, port=full_backlog, connect_timeout_s=0.5)
    assert "timeout: no answer within 0.5 s" in line


def test_the_sandbox_eperm_names_the_drop_in(caplog, monkeypatch):
    port = free_port()
    real = socket.create_connection

    def sandboxed(address, *args, **kwargs):
        if address[1] == port:  # what connect() gives under IPAddressDeny=any
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", sandboxed)  # the module paho calls it from
    line = run_until_warned(caplog, port=port)
    assert "cannot connect (Operation not permitted): the service's sandbox blocks IP" in line
    assert DROP_IN in line and "IPAddressAllow=127.0.0.1" in line


def test_tls_to_a_plain_port_says_tls(caplog, broker):
    line = run_until_warned(caplog, port=broker.port, tls=True)
    assert "TLS handshake failed" in line and f"does port {broker.port} speak TLS" in line


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    """mosquitto with a self-signed certificate (made with openssl)."""
    binary, openssl = find_mosquitto(), shutil.which("openssl")
    if binary is None or openssl is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto or openssl is missing but CI is set: .ci/run installs both")
        pytest.skip("needs mosquitto and openssl (apt-get install mosquitto openssl)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    subprocess.run(
        [openssl, *request, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = Broker(binary, tmp_path)
    server.conf.write_text(server.conf.read_text() + f"user root\ncertfile {cert}\nkeyfile {key}\n")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_a_self_signed_certificate_says_tls_and_what_to_set(caplog, tls_broker):
    line = run_until_warned(caplog, port=tls_broker.port, tls=True)
    assert "TLS: the broker's certificate was not accepted (self" in line
    assert "set tls_ca_file to the CA that signed it" in line


def test_a_broker_that_never_answers_is_named_promptly_and_not_as_a_lost_connection(caplog, blackhole):
    caplog.set_level(logging.INFO, logger="gateway.mqtt")
    clock = FakeClock()
    observer = make_observer(clock, port=blackhole.port, connect_timeout_s=2.0)
    try:
        observer.gateway_cycle_completed(make_result(clock))
        line = first_outage_line(caplog, clock, observer)  # one cycle per fake second
        assert "no answer: the broker accepted the TCP connection but sent no CONNACK within 2 s" in line
        wait_until(lambda: len(blackhole.accepted) >= 2, what="paho to try again")  # closed, retried
    finally:
        observer.close()
    texts = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [t for t in texts if "connection lost" in t]
    assert len([t for t in texts if "retrying in the background" in t]) == 1


class OnlyMqtt311:
    """A server that answers every CONNECT as a 3.1.1-only broker does: "unacceptable protocol version"."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.levels: list[int] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(WAIT_S)
                data = conn.recv(1024)
                if len(data) > 8:
                    self.levels.append(data[8])  # the protocol level byte of CONNECT
                conn.sendall(b"\x20\x02\x00\x01")

    def close(self) -> None:
        self.sock.close()


def test_an_mqtt311_only_broker_is_told_apart_and_the_setting_named(caplog):
    server = OnlyMqtt311()
    try:
        line = run_until_warned(caplog, port=server.port)
    finally:
        server.close()
    assert server.levels[0] == 5
    assert "the broker refused the connection: Unsupported protocol version" in line
    assert 'set mqtt.protocol = "v3.1.1"' in line


def test_protocol_v311_publishes_the_state(broker):
    watcher = Subscriber(broker.port, ("battery-gateway/testbat/state",))
    clock = FakeClock()
    observer = make_observer(clock, port=broker.port, protocol="v3.1.1")
    try:
        observer.gateway_cycle_completed(make_result(clock))
        assert watcher.wait_for("battery-gateway/testbat/state").json()["cycle"] == 1
        assert observer._client.protocol == paho_client.MQTTv311
    finally:
        observer.close()
        watcher.close()
