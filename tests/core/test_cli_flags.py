"""Boolean flags look and behave like flags in every command's help (no ``<bool>`` value shown)."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager

APP = build_app(make_plugin_manager())


def all_commands() -> list[list[str]]:
    root = typer.main.get_command(APP)
    paths: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        paths.append(path)
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return paths


def test_no_help_text_shows_a_value_for_a_boolean_flag():
    runner = CliRunner()
    paths = all_commands()
    assert ["demo"] in paths and ["jk_uart", "simulate"] in paths
    for path in paths:
        result = runner.invoke(APP, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, f"gateway {' '.join(path)} --help shows <bool>"


def test_a_flag_given_a_value_names_the_flag_use():
    result = CliRunner().invoke(APP, ["demo", "--plain", "true", "--cycles", "1"])
    assert result.exit_code == 2
    assert "true" in result.output
