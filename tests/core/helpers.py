"""Small plugins registered through the real hooks, for core tests (a fresh manager per test)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pluggy

from gateway_core import hookimpl, setting
from gateway_core.plugins import make_plugin_manager
from tests.fakes import FakeSink, FakeSource, FixedPolicy


@dataclass(frozen=True, slots=True)
class DemoSourceConfig:
    port: str = setting("/dev/ttyUSB0", help="port")
    timeout: float = setting(0.5, min=0.05, max=5.0, unit="seconds", help="deadline per reply")
    cells: int = setting(16, min=3, max=32, help="cells")
    verbose: bool = setting(False, help="talk")
    mode: str = setting("a", choices=["a", "b"], help="mode")
    ladder: tuple[tuple[float, float], ...] = setting([[3.5, 2.0], [3.4, 10.0]], help="steps")


class ScriptedPlugins:
    """Registers source 'fake', policy 'fixed' and sink 'memory'; records built objects."""

    def __init__(self) -> None:
        self.sinks: list[FakeSink] = []
        self.sources: list[FakeSource] = []
        self.configs: list[Any] = []

    @hookimpl
    def gateway_register_sources(self, register):
        def build(config, ctx):
            self.configs.append(config)
            src = FakeSource(ctx.clock)
            self.sources.append(src)
            return src

        register("fake", build, config=DemoSourceConfig, description="scripted test source")

    @hookimpl
    def gateway_register_policies(self, register):
        register("fixed", lambda config, ctx: FixedPolicy(), description="fixed limits")

    @hookimpl
    def gateway_register_sinks(self, register):
        def build(config, ctx):
            sink = FakeSink(ctx.clock)
            self.sinks.append(sink)
            return sink

        register("memory", build, description="records publishes")


def manager_with(*plugins: object) -> pluggy.PluginManager:
    pm = make_plugin_manager(entry_points=False)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"test{index}")
    return pm
