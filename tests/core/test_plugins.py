"""Plugin discovery and registration: entry points, failures named, duplicates refused."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint

import pytest
from typer.testing import CliRunner

from gateway_core import hookimpl
from gateway_core.cli import build_app
from gateway_core.errors import PluginError
from gateway_core.plugins import call_each, collect_registrations, load_entry_points, make_plugin_manager
from tests.core.helpers import ScriptedPlugins, manager_with


def test_unknown_name_lists_the_available_ones():
    registry = collect_registrations(manager_with(ScriptedPlugins()))
    with pytest.raises(PluginError, match=r"^unknown source 'jkbms'; available: fake$"):
        registry.get("source", "jkbms")
    with pytest.raises(PluginError, match=r"unknown sink 'fake'; available: memory"):
        registry.get("sink", "fake")


def test_duplicate_names_across_plugins_are_refused_naming_both():
    class Other:
        @hookimpl
        def gateway_register_sinks(self, register):
            register("fake", lambda c, x: None)

    with pytest.raises(
        PluginError, match=r"'fake' is registered twice: by plugin 'test0' \(source\) and by plugin 'test1'"
    ):
        collect_registrations(manager_with(ScriptedPlugins(), Other()))


def test_a_plugin_that_fails_to_import_is_named_and_the_others_still_load():
    pm = make_plugin_manager(entry_points=False)
    eps = [
        EntryPoint("broken", "no_such_module_anywhere", "battery_gateway"),
        EntryPoint("const", "const_source", "battery_gateway"),
    ]
    failures = load_entry_points(pm, eps)
    assert "broken" in failures and "ModuleNotFoundError" in failures["broken"]
    registry = collect_registrations(pm)
    assert registry.names("source") == ["const"]
    with pytest.raises(
        PluginError, match=r"unknown source 'daly'; available: const \(plugin 'broken' failed to load"
    ):
        registry.get("source", "daly")


def test_a_registration_hook_that_raises_names_its_plugin():
    class Bad:
        @hookimpl
        def gateway_register_policies(self, register):
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match=r"plugin 'test0' failed in gateway_register_policies: boom"):
        collect_registrations(manager_with(Bad()))


def test_hook_gateway_register_sources():
    registry = collect_registrations(manager_with(ScriptedPlugins()))
    reg = registry.get("source", "fake")
    assert reg.plugin == "test0" and reg.description == "scripted test source"


def test_hook_gateway_register_policies():
    assert collect_registrations(manager_with(ScriptedPlugins())).names("policy") == ["fixed"]


def test_hook_gateway_register_sinks():
    assert collect_registrations(manager_with(ScriptedPlugins())).names("sink") == ["memory"]


def test_hook_gateway_register_observers():
    class Obs:
        @hookimpl
        def gateway_register_observers(self, register):
            register("counter", lambda c, x: object(), description="counts")

    assert collect_registrations(manager_with(Obs())).names("observer") == ["counter"]


def test_hook_gateway_register_meters():
    class Meter:
        @hookimpl
        def gateway_register_meters(self, register):
            register("grid", lambda c, x: object(), description="a meter", simulator=None)

    registry = collect_registrations(manager_with(Meter()))
    assert registry.names("meter") == ["grid"]
    assert registry.get("meter", "grid").description == "a meter"


def test_a_registration_keeps_its_simulator():
    def make_sim(cells: int) -> object:
        return ("sim", cells)

    class Src:
        @hookimpl
        def gateway_register_sources(self, register):
            register("simmed", lambda c, x: object(), description="with a simulator", simulator=make_sim)

    reg = collect_registrations(manager_with(Src())).get("source", "simmed")
    assert reg.simulator is not None and reg.simulator(8) == ("sim", 8)


def test_hook_gateway_register_commands():
    import typer

    class Cmd:
        @hookimpl
        def gateway_register_commands(self, app):
            sub = typer.Typer()

            @sub.command()
            def hello(name: str = "world") -> None:
                typer.echo(f"hello {name}")

            app.add_typer(sub, name="greet")

    result = CliRunner().invoke(build_app(manager_with(Cmd())), ["greet", "hello", "--name", "pi"])
    assert result.exit_code == 0 and result.output == "hello pi\n"


def test_a_broken_command_hook_does_not_take_the_cli_down():
    class Broken:
        @hookimpl
        def gateway_register_commands(self, app):
            raise RuntimeError("no typer for you")

    result = CliRunner().invoke(build_app(manager_with(Broken())), ["--version"])
    assert result.exit_code == 0 and "battery-gateway" in result.output


def test_call_each_isolates_failures():
    seen = []

    class A:
        @hookimpl
        def gateway_cycle_completed(self, result):
            raise RuntimeError("first fails")

    class B:
        @hookimpl
        def gateway_cycle_completed(self, result):
            seen.append(result)

    errors = []
    call_each(
        manager_with(A(), B()), "gateway_cycle_completed", on_error=lambda p, e: errors.append(p), result=1
    )
    assert seen == [1] and errors == ["test0"]


def test_plugins_json_lists_builtins_from_entry_points():
    result = CliRunner().invoke(build_app(make_plugin_manager()), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    for name, role in (("jk_uart", "source"), ("limit_ladder", "policy"), ("pylontech", "sink")):
        assert rows[name]["role"] == role
        assert rows[name]["package"] == "battery-gateway"
        assert rows[name]["version"]


def test_plugins_table():
    result = CliRunner().invoke(build_app(manager_with(ScriptedPlugins())), ["plugins"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "PACKAGE", "VERSION", "DESCRIPTION"]
    assert any(line.startswith("fake") and "source" in line for line in lines)
