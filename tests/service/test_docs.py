"""docs/raspberry-pi.md: every ``gateway`` command it shows exists with the options it uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager

DOC = Path(__file__).resolve().parents[2] / "docs" / "raspberry-pi.md"


def gateway_commands() -> list[list[str]]:
    """Argument lists of the ``gateway ...`` command lines in the page's code blocks."""
    found = []
    in_block = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        match = re.search(r"(?:^|\s|/)gateway ([a-z_].*?)(?:\s+#.*)?$", line) if in_block else None
        if match:
            found.append(shlex.split(match.group(1)))
    return found


def test_the_page_shows_commands() -> None:
    assert len(gateway_commands()) >= 6


@pytest.mark.parametrize("args", gateway_commands(), ids=" ".join)
def test_each_command_and_option_exists(args: list[str]) -> None:
    words = [a for a in args if not a.startswith("-")]
    app = build_app(make_plugin_manager())
    path: list[str] = []
    for word in words:  # the longest prefix of plain words that is still a command
        probe = CliRunner().invoke(app, [*path, word, "--help"])
        if probe.exit_code != 0:
            break
        path.append(word)
    assert path, args
    help_text = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).stdout
    for option in (a.split("=")[0] for a in args if a.startswith("--")):
        assert option in help_text, f"gateway {' '.join(path)} has no {option}"
