"""``gateway demo``: the real engine on simulated packs and a pretend inverter on a virtual CAN bus.

A plugin like any other: it only adds a command, and loads the simulators, python-can and the
builtin plugins when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import hookimpl

if TYPE_CHECKING:
    import typer


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway demo``."""
    from .demo import register_demo_command

    register_demo_command(app)
