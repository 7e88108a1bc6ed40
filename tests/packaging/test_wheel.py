"""The install path a Pi owner takes: build the wheel and sdist, install the wheel alone, run it.

Builds with build isolation (the newest setuptools, as on a Pi), so a deprecation that would break
``pip install`` on some future date shows up here first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What setuptools prints when a build relies on something it will stop supporting.
DEPRECATION = re.compile(r"Deprecat|!!\n|will be removed|no longer be supported", re.IGNORECASE)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    build = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    log = build.stdout + build.stderr
    found = DEPRECATION.search(log)
    assert found is None, log[max(0, found.start() - 1500) : found.end() + 500] if found else ""
    return out


def test_the_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert any(f.endswith(".whl") for f in files) and any(f.endswith(".tar.gz") for f in files)
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_wheel_alone_installs_and_runs_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    (wheel,) = dist.glob("*.whl")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    gateway = target / "bin" / "gateway"
    plugins = subprocess.run([str(gateway), "plugins"], capture_output=True, text=True, timeout=60)
    assert plugins.returncode == 0, plugins.stderr
    for name in ("jk_uart", "pylontech", "limit_ladder", "mqtt", "prometheus"):
        assert re.search(rf"^{name}\s", plugins.stdout, re.MULTILINE), plugins.stdout
    assert "const" not in plugins.stdout  # the example plugin and test tools stay out of production
    pytest_absent = subprocess.run([str(python), "-c", "import pytest"], capture_output=True)
    assert pytest_absent.returncode != 0
    demo = subprocess.run(
        [str(gateway), "demo", "--cycles", "3", "--period", "0.1", "--plain"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert "stopped after 3 cycles" in demo.stdout
