"""SMA Energy Meter / Sunny Home Manager grid meter (Speedwire multicast or unicast, protocol 0x6069).

Choose it with ``[gateway] meter = "sma_em"``; configure it in ``[sma_em]``. This module only
registers: the decoder, the socket thread and typer load when the meter or a command is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import PluginContext, hookimpl
from gateway_core.roles import RegisterMeter

from .config import SmaEmConfig

if TYPE_CHECKING:
    import typer

    from .meter import SmaEmMeter

__all__ = ["SmaEmConfig"]


@hookimpl
def gateway_register_meters(register: RegisterMeter) -> None:
    """Register the ``sma_em`` meter."""

    def build(config: SmaEmConfig, ctx: PluginContext) -> SmaEmMeter:
        from .meter import SmaEmMeter

        return SmaEmMeter(config, ctx)

    register(
        "sma_em",
        build,
        config=SmaEmConfig,
        description="SMA Energy Meter / Sunny Home Manager grid power (Speedwire UDP)",
    )


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway sma_em decode|listen``."""
    from .cli import build_cli

    app.add_typer(build_cli(), name="sma_em", help="SMA Energy Meter: decode datagrams, listen to a meter.")
