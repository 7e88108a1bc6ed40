"""The README and docs/web.md describe what the plugin really has; the page's files stay safe."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path

import pytest

from gateway_core.model import MeterReading, PackResult
from tests.fakes import FakeClock
from web.config import WebConfig
from web.history import MinuteHistory, history_doc
from web.state import state_doc

from .helpers import ALLOW, make_result, pylontech_sink, rich_reading

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
DOC = (ROOT / "docs" / "web.md").read_text()
STATIC = resources.files("web").joinpath("static")


def full_state() -> dict[str, object]:
    clock = FakeClock()
    reading = rich_reading(clock)
    result = make_result(
        clock,
        reading=reading,
        packs=(PackResult("pack1", "jk_uart", True, reading, ALLOW),),
        sinks=(pylontech_sink(reading, ALLOW),),
        meter=MeterReading("m", clock.now(), 100.0),
        meter_age_s=0.5,
    )
    return state_doc(result, period_s=1.0)


def test_the_readme_names_every_web_key() -> None:
    section = README.split("### `[web]`", 1)[1].split("\n## ", 1)[0]
    for field in dataclasses.fields(WebConfig):
        assert f"| `{field.name}` |" in section, field.name


def test_docs_web_md_documents_every_key_of_both_documents() -> None:
    state = full_state()
    for key in [*state, "age_s", "waiting"]:
        assert f"`{key}`" in DOC, f"/api/state key {key} is not in docs/web.md"
    for nested in ("reading", "limits", "inverter", "meter"):
        value = state[nested]
        assert isinstance(value, dict)
        for key in value:
            assert key in DOC, f"/api/state {nested}.{key} is not in docs/web.md"
    sink = state["sinks"][0]  # type: ignore[index]
    for key in [*sink, *sink["frames"][0]]:
        assert key in DOC, f"/api/state sinks[].{key} is not in docs/web.md"
    for key in history_doc(MinuteHistory(), monotonic_now=0.0, wall_now=0.0):
        assert f"`{key}`" in DOC, f"/api/history key {key} is not in docs/web.md"


@pytest.mark.parametrize("name", ["web-desktop.png", "web-phone-360.png"])
def test_the_screenshots_in_the_doc_exist(name: str) -> None:
    assert name in DOC
    assert (ROOT / "docs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["app.js", "chart.js", "index.html"])
def test_the_page_never_parses_strings_as_html(name: str) -> None:
    text = STATIC.joinpath(name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in text, f"{name} uses {sink}"
    assert not re.search(r"<script>(?!\s*</script>)", text), "no inline script (the CSP forbids it)"
    assert " on" + "click=" not in text and "style=" not in text
