"""Every reference frame has its provenance in the data README (the README's key reference is
checked for every builtin plugin by tests/core/test_docs.py)."""

from __future__ import annotations

from pathlib import Path

from .helpers import FRAMES


def test_every_reference_frame_has_its_provenance():
    provenance = (Path(__file__).parent / "data" / "README.md").read_text(encoding="utf-8")
    for name in FRAMES:
        assert f"`{name}`" in provenance, name
