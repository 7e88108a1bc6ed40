"""JK-PB "inverter BMS" over RS485 (up to 15 packs on one line): records, simulator, source, commands.

The JK02/JK04 record decoders (:mod:`jk_pb.records`, :mod:`jk_pb.cellinfo`, :mod:`jk_pb.settings`,
:mod:`jk_pb.jk04`) are pure and shared with JK's Bluetooth. This module only registers; pyserial,
the parsers and typer load when the source, the simulator or a command is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import PluginContext, hookimpl
from gateway_core.roles import RegisterSource

from .config import JkPbConfig

if TYPE_CHECKING:
    import typer

    from .simulator import SimulatedLine
    from .source import JkPbSource

__all__ = ["JkPbConfig"]


@hookimpl
def gateway_register_sources(register: RegisterSource) -> None:
    """Register the ``jk_pb`` source and its simulator."""

    def build(config: JkPbConfig, ctx: PluginContext) -> JkPbSource:
        from .source import JkPbSource

        return JkPbSource(config, ctx)

    def simulator(cells: int = 16) -> SimulatedLine:
        from .simulator import make_simulator

        return make_simulator(cells)

    register(
        "jk_pb",
        build,
        config=JkPbConfig,
        description="JK-PB inverter BMS over RS485 (55 AA EB 90 records, up to 15 packs on one line)",
        simulator=simulator,
    )


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway jk_pb decode|read|scan|simulate``."""
    from .cli import build_cli

    app.add_typer(
        build_cli(), name="jk_pb", help="JK-PB RS485: decode records, read or scan a line, simulate one."
    )
