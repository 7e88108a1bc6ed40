"""The README's configuration reference names every key of the daly section."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from daly.config import DalyConfig

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def test_every_daly_key_is_in_the_readme():
    section = README.split("### `[daly]`", 1)[1].split("\n### ", 1)[0]
    for fld in dataclasses.fields(DalyConfig):
        assert f"| `{fld.name}` |" in section, f"README lacks [daly] {fld.name}"
