"""One install recipe: README.md and docs/raspberry-pi.md give the same steps, word for word."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- install-recipe.*?-->\n(.*?)<!-- /install-recipe -->", re.DOTALL)


def recipe(path: Path) -> str:
    found = BLOCK.findall(path.read_text())
    assert len(found) == 1, f"{path.name}: expected one install-recipe block"
    return str(found[0])


def test_the_readme_and_the_pi_guide_give_the_same_install_steps():
    assert recipe(ROOT / "README.md") == recipe(ROOT / "docs" / "raspberry-pi.md")


def test_the_recipe_installs_only_the_gateway_and_says_how_to_upgrade_and_roll_back():
    text = recipe(ROOT / "README.md")
    assert "setup.sh" not in text and "[dev]" not in text and "const_source" not in text
    for needed in ("pip install", "pipx install", "Upgrade", "Roll back", ".whl", "CHANGELOG"):
        assert needed in text, needed
    assert "/home" not in text.replace("outside `/home`", "")
