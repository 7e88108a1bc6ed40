"""The README's configuration reference documents every ``[jbd]`` key, and the data README every frame."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jbd.config import JbdConfig

from .helpers import FRAMES

ROOT = Path(__file__).resolve().parents[3]


def test_every_jbd_key_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "### `[jbd]`" in readme
    section = readme.split("### `[jbd]`", 1)[1].split("\n### ", 1)[0]
    for fld in dataclasses.fields(JbdConfig):
        assert f"| `{fld.name}` |" in section, f"README lacks [jbd] {fld.name}"


def test_every_reference_frame_has_its_provenance():
    provenance = (Path(__file__).parent / "data" / "README.md").read_text(encoding="utf-8")
    for name in FRAMES:
        assert f"`{name}`" in provenance, name
