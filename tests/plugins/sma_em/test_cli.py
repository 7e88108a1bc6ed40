"""``gateway sma_em decode|listen`` through the real CLI, and the ``[sma_em]`` config's checks."""

from __future__ import annotations

import json
import threading
import time

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.errors import ConfigError
from gateway_core.plugins import make_plugin_manager
from gateway_core.settings import build_section
from sma_em.config import SmaEmConfig
from sma_em.simulate import grid_datagram

from .helpers import DATAGRAMS, free_udp_port, send


def gateway(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(build_app(make_plugin_manager()), list(args), input=stdin)


def test_decode_prints_the_documented_json():
    result = gateway("sma_em", "decode", DATAGRAMS["em10_import_1054w"].hex(" "))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["grid_power_w"], out["import_w"], out["export_w"]) == (1054.6, 1054.6, 0.0)
    assert out["serial"] == 1901429669
    assert (out["energy_import_kwh"], out["energy_export_kwh"]) == (24.9821, 0.3617)
    assert [out["phases"][p]["power_w"] for p in ("l1", "l2", "l3")] == [344.3, 592.7, 117.6]


def test_decode_reads_hex_or_a_raw_datagram_from_stdin():
    raw = DATAGRAMS["em_susy270_export_1743w"]
    for stdin in (raw, raw.hex().encode() + b"\n"):
        result = gateway("sma_em", "decode", "-", stdin=stdin)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["grid_power_w"] == -1742.9


@pytest.mark.parametrize(
    ("arg", "stdin", "text"),
    [
        (DATAGRAMS["em10_import_1054w"][:100].hex(), None, "invalid datagram (truncated)"),
        ("53 4d 41 00 zz", None, "invalid input: not hex: unexpected 'z'"),
        ("-", b"\xff\xfe\x80", "neither hex text nor a raw datagram"),
        (
            (DATAGRAMS["em10_import_1054w"][:16] + b"\x60\x65" + DATAGRAMS["em10_import_1054w"][18:]).hex(),
            None,
            "0x6065",
        ),
    ],
)
def test_an_invalid_datagram_is_one_line_on_stderr_and_exit_1(arg, stdin, text):
    result = gateway("sma_em", "decode", arg, stdin=stdin)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and text in lines[0], lines


def test_listen_prints_live_values_from_unicast_datagrams():
    port = free_udp_port()

    def feed() -> None:
        time.sleep(0.3)  # let listen bind first; UDP to a closed port is simply lost
        for _ in range(20):
            send(port, grid_datagram(-480.0), b"SMA\x00junk")
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    result = gateway(
        "sma_em", "listen", "--group", "", "--listen", f"127.0.0.1:{port}", "--count", "2", "--json"
    )
    feeder.join(5)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and all(v["grid_power_w"] == -480.0 and v["from"] == "127.0.0.1" for v in lines)
    assert "refused (truncated)" in result.stderr


def test_listen_with_nothing_arriving_says_so_in_one_line():
    port = free_udp_port()
    result = gateway("sma_em", "listen", "--group", "", "--listen", f"127.0.0.1:{port}", "--seconds", "0.3")
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[-1]
        == f"gateway sma_em: no energy meter datagram in 0.3 s on 127.0.0.1:{port} (unicast only)"
    )


def test_listen_refuses_a_bad_address_with_exit_2():
    result = gateway("sma_em", "listen", "--listen", "nowhere:9522")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "not an IPv4 address" in result.stderr


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"group": "192.168.1.10"}, "not a multicast address"),
        ({"group": "239.12.255"}, "not an IPv4 address"),
        ({"listen": "0.0.0.0"}, "expected address:port"),
        ({"listen": "0.0.0.0:0"}, "outside 1..65535"),
        ({"listen": "0.0.0.0:70000"}, "outside 1..65535"),
        ({"listen": "::1:9522"}, "not an IPv4 address"),
        ({"serial": -1}, "out of range"),
        ({"serial": 2**32}, "out of range"),
        ({"interface": "eth0"}, "not an IPv4 address"),
        ({"group": "", "interface": "192.168.1.2"}, "interface is set but group is empty"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_the_config_is_checked_in_one_line(values, text):
    with pytest.raises(ConfigError, match=text) as info:
        build_section(SmaEmConfig, "sma_em", values)
    assert "\n" not in str(info.value)


def test_the_defaults_join_the_speedwire_group_on_port_9522():
    cfg = build_section(SmaEmConfig, "sma_em", {})
    assert (cfg.group, cfg.address, cfg.serial, cfg.interface) == ("239.12.255.254", ("0.0.0.0", 9522), 0, "")
    assert build_section(SmaEmConfig, "sma_em", {"group": ""}).group == ""
