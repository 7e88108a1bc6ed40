"""Meta-tests: the hook contract is documented, tested and discovered the way third parties are."""

from __future__ import annotations

import ast
import inspect
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gateway_core import hookspecs
from gateway_core.plugins import ENTRY_POINT_GROUP, make_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
SPECS = [
    (name, fn)
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("gateway_") and hasattr(fn, "battery_gateway_spec")
]
BUILTINS = {"jk_uart": "jk_uart", "pylontech": "pylontech_can", "limit_ladder": "limit_ladder"}


def test_there_are_hookspecs():
    assert {name for name, _ in SPECS} >= {
        "gateway_register_sources",
        "gateway_register_policies",
        "gateway_register_sinks",
        "gateway_register_observers",
        "gateway_register_commands",
        "gateway_cycle_completed",
    }


@pytest.mark.parametrize(("name", "fn"), SPECS, ids=[name for name, _ in SPECS])
def test_every_hookspec_follows_the_docstring_template(name, fn):
    doc = inspect.getdoc(fn)
    assert doc, f"{name} has no docstring"
    assert "\n\nCalled: " in doc, f"{name}: says when it is called"
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc, f"{name}: documents {arg}"
    assert ":returns:" in doc and ":raises:" in doc


@pytest.mark.parametrize(("name", "fn"), SPECS, ids=[name for name, _ in SPECS])
def test_every_hookspec_has_a_heading_in_the_plugin_docs(name, fn):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    args = ", ".join(inspect.signature(fn).parameters)
    assert re.search(rf"^#+ `{name}\({args}\)`", docs, re.MULTILINE), (
        f"docs/plugins.md lacks `{name}({args})`"
    )


@pytest.mark.parametrize(("name", "fn"), SPECS, ids=[name for name, _ in SPECS])
def test_every_hook_has_a_test(name, fn):
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert f"def test_hook_{name}(" in tests


def test_builtins_arrive_through_installed_entry_points():
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, module in BUILTINS.items():
        assert found.get(name) == module
    pm = make_plugin_manager()
    for name in BUILTINS:
        assert pm.has_plugin(name), f"{name} not registered from its entry point"


def plugin_packages() -> set[str]:
    """Every package under plugins/ and every module an entry point of the group loads."""
    packages = {path.name for path in (ROOT / "plugins").iterdir() if (path / "__init__.py").exists()}
    return packages | {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)}


def test_no_import_anywhere_in_the_core_names_a_plugin():
    plugin_modules = plugin_packages()
    assert {"jk_uart", "pylontech_can", "gateway_demo"} <= plugin_modules
    for path in (ROOT / "gateway_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # every import, also those inside functions
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for module in names:
                assert module.split(".")[0] not in plugin_modules, f"{path.name} imports {module}"


def test_plugin_packages_import_nothing_heavy_at_load():
    heavy = {"can", "cantools", "serial", "paho", "prometheus_client", "typer"}
    for module in [*BUILTINS.values(), "mqtt_observer", "prometheus_observer"]:
        init = ROOT / "plugins" / module / "__init__.py"
        tree = ast.parse(init.read_text())
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert (mod or "").split(".")[0] not in heavy, f"{module}/__init__.py imports {mod} at load"
