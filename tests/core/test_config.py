"""Config loading: file, --set overrides, and one precise error line for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.config import GatewayConfig, load_config, parse_override, render_toml
from gateway_core.errors import ConfigError
from gateway_core.plugins import collect_registrations
from tests.core.helpers import ScriptedPlugins, manager_with


@pytest.fixture
def registry():
    return collect_registrations(manager_with(ScriptedPlugins()))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(registry):
    loaded = load_config(None, [], registry)
    assert loaded.gateway == GatewayConfig()
    assert loaded.gateway.policy == "limit_ladder" and loaded.gateway.period == 1.0
    assert loaded.gateway.stale_after == 5.0 and loaded.gateway.observers == ()
    assert loaded.section("fake").timeout == 0.5


def test_file_values_and_set_overrides_in_order(tmp_path, registry):
    path = write(tmp_path, '[gateway]\nperiod = 2\nstale_after = 10\n[fake]\nport = "/dev/a"\ncells = 8\n')
    loaded = load_config(
        path, ["fake.port=/dev/ttyUSB1", "gateway.period=0.5", "fake.verbose=true"], registry
    )
    assert loaded.gateway.period == 0.5 and isinstance(loaded.gateway.period, float)
    assert loaded.section("fake").port == "/dev/ttyUSB1"
    assert loaded.section("fake").cells == 8
    assert loaded.section("fake").verbose is True


def test_set_reads_toml_values_and_falls_back_to_strings():
    assert parse_override("a.b=0.5") == ("a", "b", 0.5)
    assert parse_override("a.b=true") == ("a", "b", True)
    assert parse_override("a.b=[1, 2]") == ("a", "b", [1, 2])
    assert parse_override("a.b=/dev/ttyUSB1") == ("a", "b", "/dev/ttyUSB1")
    assert parse_override('a.b="quoted"') == ("a", "b", "quoted")
    assert parse_override("a.b=jksim://?cells=16&name=x") == ("a", "b", "jksim://?cells=16&name=x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosection=1", "--set nosection=1: expected section.key=value"),
        ("novalue", "--set novalue: expected section.key=value"),
        ("a.b=x\ny", "must not contain a newline"),
    ],
)
def test_bad_override_syntax(text, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        parse_override(text)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[gateway\n", "gateway.toml: not valid TOML"),
        (
            "[nope]\nx = 1\n",
            "gateway.toml: unknown section [nope]; known sections: gateway, fake, fixed, memory",
        ),
        (
            "[fake]\nbaud = 9600\n",
            "gateway.toml: [fake] unknown key 'baud'; known keys: cells, ladder, mode, port",
        ),
        (
            "[fake]\ntimeout = 9.0\n",
            "gateway.toml: [fake] timeout = 9.0 is out of range; accepted: 0.05 to 5 (seconds)",
        ),
        (
            '[fake]\ntimeout = "fast"\n',
            'gateway.toml: [fake] timeout = "fast" has the wrong type; accepted: a finite number',
        ),
        ("[fake]\ntimeout = nan\n", "[fake] timeout = nan has the wrong type; accepted: a finite number"),
        ("[fake]\ntimeout = inf\n", "[fake] timeout = inf has the wrong type; accepted: a finite number"),
        (
            "[fake]\ncells = 3.5\n",
            "gateway.toml: [fake] cells = 3.5 has the wrong type; accepted: a whole number",
        ),
        ("[fake]\ncells = true\n", "[fake] cells = true has the wrong type; accepted: a whole number"),
        ("[fake]\nverbose = 1\n", "[fake] verbose = 1 has the wrong type; accepted: true or false"),
        ('[fake]\nmode = "c"\n', '[fake] mode = "c" is not allowed; accepted: a, b'),
        ("[fake]\nladder = [[3.5]]\n", "[fake] ladder = [[3.5]] has the wrong type"),
        ("[gateway]\nperiod = 0\n", "[gateway] period = 0 is out of range; accepted: 0.05 to 10 (seconds)"),
        (
            "[gateway]\nperiod = 2.0\nstale_after = 1.0\n",
            "[gateway] stale_after = 1 must be at least period = 2",
        ),
        (
            '[gateway]\nobservers = "mqtt"\n',
            '[gateway] observers = "mqtt" has the wrong type; accepted: a list of a string',
        ),
        ("gateway = 1\n", "top-level key 'gateway' must be a [section] table"),
    ],
)
def test_each_config_error_is_one_precise_line(tmp_path, registry, toml, expected):
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config(path, [], registry)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) or message.startswith("gateway.toml") or str(path) in message
    assert expected.replace("gateway.toml", str(path)) in message


def test_set_error_names_the_override(registry):
    with pytest.raises(ConfigError, match=r"^--set fake.timeout: \[fake\] timeout = 99 is out of range"):
        load_config(None, ["fake.timeout=99"], registry)


def test_missing_file_is_a_config_error(tmp_path, registry):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "absent.toml", [], registry)


def test_config_show_renders_loadable_toml(tmp_path, registry):
    loaded = load_config(None, ["fake.cells=12", "fake.ladder=[[3.6, 1], [3.3, 20]]"], registry)
    text = render_toml(loaded)
    again = load_config(write(tmp_path, text), [], registry)
    assert again.section("fake") == loaded.section("fake")
    assert again.gateway == loaded.gateway


def run_cli(pm, *args: str):
    return CliRunner().invoke(build_app(pm), list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "fake.timeout=9"], "--set fake.timeout: [fake] timeout = 9 is out of range"),
        (["--set", "nope.x=1"], "unknown section [nope]"),
        (["--source", "jkbms"], "unknown source 'jkbms'; available: fake"),
        (
            ["--source", "fake", "--policy", "fixed", "--sink", "nope"],
            "unknown sink 'nope'; available: memory",
        ),
        (["--source", "fake", "--policy", "fixed"], "no sink chosen: use --sink NAME"),
        (["--source", "fake", "--sink", "memory"], "unknown policy 'limit_ladder'; available: fixed"),
        (
            ["--source", "fake", "--sink", "memory", "--policy", "fixed", "--set", 'gateway.observers=["x"]'],
            "unknown observer 'x'; available: none",
        ),
    ],
)
def test_run_refuses_bad_config_with_exit_2(tmp_path, args, message):
    result = run_cli(manager_with(ScriptedPlugins()), "run", *args, "--cycles", "1")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.count("\n") == 1


def test_run_refuses_bad_file_with_exit_2(tmp_path):
    path = write(tmp_path, "[gateway]\nperiod = -1\n")
    result = run_cli(manager_with(ScriptedPlugins()), "run", "--config", str(path), "--cycles", "1")
    assert result.exit_code == 2
    assert f"{path}: [gateway] period = -1 is out of range" in result.output


def test_config_show_cli(tmp_path):
    result = run_cli(manager_with(ScriptedPlugins()), "config", "show", "--set", "fake.cells=7")
    assert result.exit_code == 0, result.output
    assert "[fake]\n" in result.output and "cells = 7" in result.output
    assert 'policy = "limit_ladder"' in result.output


def test_secret_values_are_never_printed():
    from dataclasses import dataclass

    from gateway_core.config import LoadedConfig
    from gateway_core.settings import build_section, setting

    @dataclass(frozen=True)
    class Broker:
        password: str | None = setting(None, secret=True, help="password")

    loaded = LoadedConfig(GatewayConfig(), {"broker": Broker(password="hunter2")}, None)
    assert "hunter2" not in render_toml(loaded) and 'password = "***"' in render_toml(loaded)
    with pytest.raises(ConfigError) as info:
        build_section(Broker, "broker", {"password": 12345}, {"password": "--set broker.password"})
    assert "12345" not in str(info.value) and '"***"' in str(info.value)


def test_a_period_too_long_for_the_systemd_watchdog_is_refused(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    result = run_cli(
        manager_with(ScriptedPlugins()),
        "run",
        "--source",
        "fake",
        "--policy",
        "fixed",
        "--sink",
        "memory",
        "--set",
        "gateway.period=6",
        "--set",
        "gateway.stale_after=12",
        "--cycles",
        "1",
    )
    assert result.exit_code == 2
    assert "[gateway] period = 6 is too long for the systemd watchdog (WatchdogSec=10s)" in result.output


def test_an_unknown_log_level_exits_2():
    result = run_cli(manager_with(ScriptedPlugins()), "run", "--log-level", "verbose", "--cycles", "1")
    assert result.exit_code == 2
    assert "--log-level 'verbose'; accepted: debug, info, warning, error" in result.output
