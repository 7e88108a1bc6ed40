"""The README's configuration reference names every key of every builtin plugin."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway_core.config import GatewayConfig
from gateway_core.plugins import collect_registrations, make_plugin_manager

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
REGISTRY = collect_registrations(make_plugin_manager())
#: Every plugin this distribution registers with settings (a new builtin is covered by registering).
BUILTINS = sorted(
    name
    for name, reg in REGISTRY.entries.items()
    if reg.package == "battery-gateway" and dataclasses.fields(reg.config)
)


def test_the_builtins_are_found():
    assert {"jk_uart", "limit_ladder", "pylontech", "mqtt", "prometheus", "web"} <= set(BUILTINS)


@pytest.mark.parametrize("section", ["gateway", *BUILTINS])
def test_every_config_key_is_in_the_readme(section):
    cls = GatewayConfig if section == "gateway" else REGISTRY.entries[section].config
    assert f"### `[{section}]`" in README
    for fld in dataclasses.fields(cls):
        assert f"| `{fld.name}` |" in README, f"README lacks [{section}] {fld.name}"
