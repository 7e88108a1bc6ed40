"""One VM for the whole kernel tier: booted by the first test that asks, read by all of them.

A missing prerequisite fails the tier under CI (``CI`` set, as ``.ci/run`` runs) or with
``GATEWAY_KERNEL_TESTS=1``; elsewhere it skips with the reason in pytest's summary. A VM that
boots and does not run the scenarios always fails, with the end of its console log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.kernel import vm
from tests.kernel.results import Results

#: Filled by the fixture, printed at the end of the run (the tier's cost in CI, never asserted).
TIMING: dict[str, float] = {}


def _required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("GATEWAY_KERNEL_TESTS") == "1"


@pytest.fixture(scope="session")
def kernel_run(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Boot the VM once, run every scenario in it, and load what it wrote.

    ``GATEWAY_KERNEL_RESULTS=DIR`` reads a finished run's directory instead of booting (to work on
    the assertions without waiting for a VM; ``python -m tests.kernel.vm DIR`` makes one in DIR/out).
    """
    earlier = os.environ.get("GATEWAY_KERNEL_RESULTS")
    if earlier:
        return Results.load(Path(earlier))
    missing = vm.check_host()
    if missing:
        message = (
            f"kernel CAN tier cannot boot its VM: missing {'; '.join(missing)} "
            "(bash .ci/run installs everything; deselect the tier with -m 'not kernel')"
        )
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("kernel")
    run = vm.boot(base / "out", base / "console.log")
    results = Results.load(run.outdir)
    TIMING["vm_wall_s"] = run.wall_s
    _guest_timing(results)
    if not any(event["event"] == "done" for event in results.events):
        tail = run.console.read_text(errors="replace").splitlines()[-25:]
        how = "timed out" if run.returncode == -1 else f"exited {run.returncode}"
        pytest.fail(
            f"the VM did not run the scenarios (vng {how} after {run.wall_s:.0f} s; "
            f"console {run.console}):\n" + "\n".join(tail)
        )
    return results


def _guest_timing(results: Results) -> None:
    events: dict[str, Any] = {}
    for event in results.events:
        events.setdefault(event["event"], event)
    if "guest_start" in events:
        TIMING["boot_s"] = events["guest_start"]["uptime_s"]
    if "guest_start" in events and "done" in events:
        TIMING["scenarios_s"] = events["done"]["t"] - events["guest_start"]["t"]
    first = [f.at_s for f in results.candump if f.interface == "vcan0"]
    if "gateway_start" in events and first:
        TIMING["gateway_first_frame_s"] = first[0] - events["gateway_start"]["t"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the VM cost: the boot, the scenarios, the whole run."""
    if TIMING:
        parts = ", ".join(f"{key} {value:.1f}" for key, value in TIMING.items())
        terminalreporter.write_line(f"kernel CAN tier: {parts}")
