"""The README's configuration reference and docs/meters.md cover every key of the `mqtt_meter` meter."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gateway_core.plugins import collect_registrations, make_plugin_manager

ROOT = Path(__file__).resolve().parents[3]


def test_every_key_is_in_the_readme_section():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `[mqtt_meter]`", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    config = collect_registrations(make_plugin_manager()).entries["mqtt_meter"].config
    for fld in dataclasses.fields(config):
        assert f"| `{fld.name}` |" in section, f"README [mqtt_meter] lacks {fld.name}"
    assert "docs/meters.md" in section


def test_the_meters_doc_names_the_plugin_and_its_cli():
    doc = (ROOT / "docs" / "meters.md").read_text(encoding="utf-8")
    assert "`mqtt_meter`" in doc
