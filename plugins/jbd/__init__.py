"""JBD / Xiaoxiang / Overkill Solar BMS over UART ("DD … 77"): source, simulator and ``gateway jbd`` commands.

This module only registers; pyserial, the parser and typer load when the source or a command is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import PluginContext, hookimpl
from gateway_core.roles import RegisterSource

from .config import JbdConfig

if TYPE_CHECKING:
    import typer

    from .simulator import SimulatedJbd
    from .source import JbdSource

__all__ = ["JbdConfig"]


def make_simulator(cells: int) -> SimulatedJbd:
    """A simulated JBD BMS with ``cells`` cells, for the shared contract tests and the demo."""
    from .simulator import SimulatedJbd

    return SimulatedJbd(cells=cells, soc_pct=60.0, current_a=-8.0)


@hookimpl
def gateway_register_sources(register: RegisterSource) -> None:
    """Register the ``jbd`` source."""

    def build(config: JbdConfig, ctx: PluginContext) -> JbdSource:
        from .source import JbdSource

        return JbdSource(config, ctx)

    register(
        "jbd",
        build,
        config=JbdConfig,
        description="JBD / Xiaoxiang / Overkill Solar BMS over UART (DD A5 protocol, 9600 baud)",
        simulator=make_simulator,
    )


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway jbd decode|read|simulate``."""
    from .cli import build_cli

    app.add_typer(build_cli(), name="jbd", help="JBD BMS UART: decode replies, read a BMS, simulate one.")
