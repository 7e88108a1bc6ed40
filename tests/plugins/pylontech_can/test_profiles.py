"""Profiles as data: shipped files valid, overrides, a user's own file, the two commands."""

from __future__ import annotations

import logging
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.errors import ConfigError
from gateway_core.plugins import make_plugin_manager
from gateway_core.roles import PluginContext
from gateway_core.settings import build_section
from pylontech_can.config import PylontechConfig
from pylontech_can.profile import (
    PROFILE_KEYS,
    ProfileError,
    load_shipped,
    parse_profile,
    render,
    resolve,
    shipped_names,
)
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock

REQUIRED = {
    "generic",
    "deye",
    "victron",
    "sma_sunny_island",
    "luxpower",
    "sofar",
    "schneider",
    "solis",
    "growatt",
}
GOOD = """\
description = "my inverter"
frames = ["0x351", "0x355", "0x356", "0x359", "0x35C", "0x35E", "0x379"]
before_first_reading = ["0x351", "0x35E"]
manufacturer = "PYLON"
peer_ids = ["0x305"]
peer_extended_ids = false
peer_silent_after_s = 20.0
cvl_step_down_v_per_min = 0.1
"""


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return build_app(make_plugin_manager())


def test_the_required_profiles_ship_and_every_one_is_valid_data() -> None:
    assert set(shipped_names()) >= REQUIRED
    for name in shipped_names():
        text = resources.files("pylontech_can").joinpath("profiles", f"{name}.toml").read_text()
        table = tomllib.loads(text)
        assert set(table) == {"description", *PROFILE_KEYS}, name
        profile = load_shipped(name)
        assert profile.frames[0] == "0x351" and profile.description
        assert "#" in text, f"{name}.toml cites no source"


def test_the_default_is_generic() -> None:
    assert resolve(PylontechConfig()) == load_shipped("generic")


def test_any_profile_key_can_be_overridden_in_the_section() -> None:
    config = PylontechConfig(
        profile="deye",
        manufacturer="PYLONDIY",
        peer_silent_after_s=90.0,
        frames=("0x351", "0x355/8", "0x356", "0x359", "0x35C", "0x35E", "0x35A"),
        peer_extended_ids=True,
    )
    effective = resolve(config)
    assert effective.manufacturer == "PYLONDIY" and effective.peer_silent_after_s == 90.0
    assert effective.frames[-1] == "0x35A" and effective.peer_extended_ids
    assert effective.cvl_step_down_v_per_min == load_shipped("deye").cvl_step_down_v_per_min
    assert "[pylontech]" in effective.origin


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"profile": "deyee"}, "accepted: deye, generic"),
        ({"frames": ["0x351", "0x355"]}, "base frames 0x356, 0x359, 0x35C, 0x35E are missing"),
        (
            {"frames": ["0x351", "0x355", "0x356", "0x359", "0x35C", "0x35E", "0x999"]},
            "not a frame this plugin",
        ),
        ({"frames": ["0x351", "0x355", "0x355/8", "0x356", "0x359", "0x35C", "0x35E"]}, "more than once"),
        ({"before_first_reading": ["0x356"]}, "carries measured values"),
        ({"peer_ids": ["0x351"]}, "is a battery frame"),
        ({"peer_ids": ["３０５"]}, "not an 11-bit CAN id"),
        ({"manufacturer": "PYLÖN"}, "at most 8 ASCII"),
        ({"cvl_step_down_v_per_min": -1.0}, "out of range"),
        ({"profile_file": " "}, "must not be empty"),
    ],
)
def test_bad_profile_keys_are_one_precise_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build_section(PylontechConfig, "pylontech", values)
    assert "\n" not in str(info.value)


def sink_for(config: PylontechConfig) -> PylontechSink:
    return PylontechSink(config, PluginContext("pylontech", FakeClock(), logging.getLogger("t")))


def test_a_users_profile_file_is_used_like_a_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "myinverter.toml"
    path.write_text(GOOD)
    sink = sink_for(PylontechConfig(interface="virtual", profile_file=str(path)))
    assert sink.profile_name == "myinverter"
    assert resolve(PylontechConfig(profile_file=str(path))).frames[-1] == "0x379"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('"0x35C", ', ""), "base frames 0x35C are missing"),
        (GOOD + "colour = 'red'\n", "unknown key 'colour'"),
        (GOOD.replace('manufacturer = "PYLON"\n', ""), "missing key 'manufacturer'"),
        (GOOD.replace('["0x351", "0x35E"]', '["0x379"]'), "0x379 carries measured values"),
        (GOOD.replace("20.0", "0.5"), "peer_silent_after_s = 0.5 is out of range"),
        (GOOD.replace("false", '"no"'), "must be true or false"),
        ("frames = [", "not valid TOML"),
        (GOOD.replace("my inverter", "two\\nlines"), "description must be one line"),
    ],
)
def test_a_bad_profile_file_is_refused_with_one_line_at_build_time(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        sink_for(PylontechConfig(interface="virtual", profile_file=str(path)))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_an_unreadable_or_huge_profile_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the profile"):
        sink_for(PylontechConfig(interface="virtual", profile_file=str(tmp_path / "none.toml")))
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * 70000)
    with pytest.raises(ConfigError, match="not a profile"):
        sink_for(PylontechConfig(interface="virtual", profile_file=str(huge)))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe description")
    with pytest.raises(ConfigError, match="not UTF-8"):
        sink_for(PylontechConfig(interface="virtual", profile_file=str(binary)))


def test_a_bad_profile_file_stops_gateway_run_with_exit_2(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('"0x356", ', ""))
    args = ["run", "--source", "jk_uart", "--sink", "pylontech", "--cycles", "1"]
    args += ["--set", "pylontech.interface=virtual", "--set", f"pylontech.profile_file={path}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "base frames 0x356 are missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_overrides_are_validated_against_the_whole_profile() -> None:
    with pytest.raises(ProfileError, match="not among the profile's frames"):
        resolve(PylontechConfig(before_first_reading=("0x351", "0x35A")))


def test_parse_profile_refuses_what_the_loader_would() -> None:
    table = tomllib.loads(GOOD)
    assert parse_profile("x", table).peer_ids == (0x305,)
    with pytest.raises(ProfileError, match="peer_ids must be a non-empty list"):
        parse_profile("x", {**table, "peer_ids": []})


def test_profiles_lists_one_line_each(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["pylontech", "profiles"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(shipped_names())
    deye = next(line for line in lines if line.startswith("deye "))
    assert "CVL lowered gradually" in deye


def test_profile_show_prints_the_effective_settings(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pylontech", "profile", "show", "deye"])
    assert result.exit_code == 0
    shown = tomllib.loads(result.stdout)
    assert shown["cvl_step_down_v_per_min"] == 0.033 and shown["manufacturer"] == "PYLON"
    assert shown["frames"] == list(load_shipped("deye").frames)
    overridden = CliRunner().invoke(
        app, ["pylontech", "profile", "show", "sofar", "--set", "pylontech.manufacturer=SOFAR"]
    )
    assert tomllib.loads(overridden.stdout)["manufacturer"] == "SOFAR"
    assert "# profile sofar (shipped + [pylontech])" in overridden.stdout
    config = tmp_path / "gateway.toml"
    config.write_text('[pylontech]\nprofile = "victron"\n')
    from_config = CliRunner().invoke(app, ["pylontech", "profile", "show", "--config", str(config)])
    assert tomllib.loads(from_config.stdout)["before_first_reading"] == []
    assert render(load_shipped("victron"))[0] in from_config.stdout


def test_profile_show_refuses_an_unknown_name_with_one_line(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["pylontech", "profile", "show", "deyee"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "gateway pylontech: error: unknown profile 'deyee'; shipped: " + ", ".join(shipped_names())
    )
