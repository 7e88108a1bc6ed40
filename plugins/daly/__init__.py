"""Daly BMS UART/RS485 source: protocol, simulator, source and ``gateway daly`` commands.

This module only registers; pyserial, the parser and typer load when the source or a command is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import PluginContext, hookimpl
from gateway_core.roles import RegisterSource

from .config import DalyConfig

if TYPE_CHECKING:
    import typer

    from .simulator import SimulatedDaly
    from .source import DalySource

__all__ = ["DalyConfig"]


def make_simulator(cells: int) -> SimulatedDaly:
    """A simulated Daly unit with ``cells`` cells, for the shared contract tests and demos.

    It talks at 115200 baud (its source settings say so): a real unit's 9600 baud puts 0.31 s of
    wire time in every poll, more than the short periods those tests run at.
    """
    from .simulator import SimulatedDaly

    return SimulatedDaly(cells=cells, baudrate=115200)


@hookimpl
def gateway_register_sources(register: RegisterSource) -> None:
    """Register the ``daly`` source."""

    def build(config: DalyConfig, ctx: PluginContext) -> DalySource:
        from .source import DalySource

        return DalySource(config, ctx)

    register(
        "daly",
        build,
        config=DalyConfig,
        description="Daly BMS over UART/RS485 (A5 13-byte frames)",
        simulator=make_simulator,
    )


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway daly decode|read|simulate``."""
    from .cli import build_cli

    app.add_typer(build_cli(), name="daly", help="Daly BMS: decode frames, read a BMS, simulate one.")
