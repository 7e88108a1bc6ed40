"""Pylontech low-voltage CAN sink (``pylontech``) and the ``gateway pylontech`` commands.

Imports only the core and the stdlib-only config here; python-can loads when the sink is built or
its simulator made, and cantools only when a command or the web page decodes frames (the sink packs
frames through :mod:`.layout`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import hookimpl

from .config import PylontechConfig

if TYPE_CHECKING:
    import typer

    from gateway_core.roles import InverterSink, PluginContext, RegisterSink
    from gateway_core.simkit import SimulatedPeer

__all__ = ["PylontechConfig"]


@hookimpl
def gateway_register_sinks(register: RegisterSink) -> None:
    """Register the ``pylontech`` sink and its simulated inverter."""

    def build(config: PylontechConfig, ctx: PluginContext) -> InverterSink:
        from pylontech_can.sink import PylontechSink

        return PylontechSink(config, ctx)

    def simulate() -> SimulatedPeer:
        from pylontech_can.simulator import PylontechPeer

        return PylontechPeer()

    register(
        "pylontech",
        build,
        config=PylontechConfig,
        description="Pylontech low-voltage CAN battery (python-can: socketcan, slcan, ...)",
        simulator=simulate,
    )


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway pylontech decode|monitor|profiles|profile``."""
    from pylontech_can.cli import build_cli

    app.add_typer(build_cli(), name="pylontech")
