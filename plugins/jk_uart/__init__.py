"""JK BMS "4E 57" UART/RS485 source: protocol, simulator, source and ``gateway jk_uart`` commands.

This module only registers; pyserial, the parser and typer load when the source or a command is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import PluginContext, hookimpl
from gateway_core.roles import RegisterSource

from .config import JkUartConfig

if TYPE_CHECKING:
    import typer

    from .simulator import SimulatedBms
    from .source import JkUartSource

__all__ = ["JkUartConfig"]


@hookimpl
def gateway_register_sources(register: RegisterSource) -> None:
    """Register the ``jk_uart`` source, with its simulated BMS for the shared contract tests."""

    def build(config: JkUartConfig, ctx: PluginContext) -> JkUartSource:
        from .source import JkUartSource

        return JkUartSource(config, ctx)

    def simulator(cells: int) -> SimulatedBms:
        from .simulator import SimulatedBms

        return SimulatedBms(cells=cells)

    register(
        "jk_uart",
        build,
        config=JkUartConfig,
        description="JK BMS over UART/RS485 (4E 57 protocol)",
        simulator=simulator,
    )


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway jk_uart decode|read|simulate``."""
    from .cli import build_cli

    app.add_typer(build_cli(), name="jk_uart", help="JK BMS UART: decode frames, read a BMS, simulate one.")
