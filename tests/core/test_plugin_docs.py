"""The complete plugin examples in docs/plugins.md are executed and run in a real gateway."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

from gateway_core.plugins import make_plugin_manager
from gateway_core.runner import build_gateway, run_gateway
from gateway_core.sdnotify import SdNotifier
from tests.fakes import FakeClock

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.DOTALL)


def examples() -> dict[str, types.ModuleType]:
    modules = {}
    for role, code in EXAMPLE.findall(DOCS):
        module = types.ModuleType(f"docs_example_{role}")
        sys.modules[module.__name__] = module  # dataclasses look their module up
        exec(compile(code, f"docs/plugins.md ({role} example)", "exec"), module.__dict__)
        modules[role] = module
    return modules


def test_the_docs_have_a_source_a_sink_and_an_observer_example():
    assert set(examples()) == {"source", "sink", "observer"}


def test_the_examples_run_together_in_a_gateway():
    pm = make_plugin_manager(entry_points=False)
    import limit_ladder

    pm.register(limit_ladder, name="limit_ladder")
    for role, module in examples().items():
        pm.register(module, name=f"example_{role}")
    results: list[Any] = []
    gateway = build_gateway(
        pm,
        config_path=Path("/dev/null"),
        overrides=[
            'gateway.source="steady"',
            'gateway.sink="print"',
            'gateway.observers=["failsafe_counter"]',
            "steady.cell_voltage=3.31",
        ],
        clock=FakeClock(),
        threaded=False,
        max_cycles=3,
        sd_notify=SdNotifier(""),
        on_cycle=results.append,
    )
    assert run_gateway(gateway, install_signals=False) == 0
    assert [r.limits.fault for r in results] == [None, None, None]
    assert results[0].reading is not None and results[0].reading.source_id == "steady"
    sink: Any = gateway.engine._sinks[0].spec.sink
    assert len(sink.lines) == 4 and "SOC 55.0" in sink.lines[0]  # 3 cycles + the stop set
    counter: Any = gateway.observers[0]
    assert counter.cycles == 4 and counter.stops == 1
