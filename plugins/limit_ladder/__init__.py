"""limit_ladder: the default limit policy (threshold ladders, hysteresis, caps, oscillation counteraction).

Registers the policy ``limit_ladder`` (config section ``[limit_ladder]``, see :mod:`limit_ladder.config`)
and the command group ``gateway limit_ladder`` (``explain``). Imports only the core and the stdlib
config here; the policy and the CLI load when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway_core import hookimpl

from .config import LadderConfig

if TYPE_CHECKING:
    import typer

    from gateway_core.roles import LimitPolicy, PluginContext, Register

__all__ = ["LadderConfig", "gateway_register_commands", "gateway_register_policies"]


@hookimpl
def gateway_register_policies(register: Register) -> None:
    """Register the ``limit_ladder`` policy."""

    def build(config: LadderConfig, ctx: PluginContext) -> LimitPolicy:
        from .policy import LadderPolicy

        return LadderPolicy(config, ctx)

    register(
        "limit_ladder",
        build,
        config=LadderConfig,
        description="cell-voltage ladders with hysteresis, caps, temperature and oscillation counteraction",
    )


@hookimpl
def gateway_register_commands(app: typer.Typer) -> None:
    """Add ``gateway limit_ladder explain``."""
    from .cli import build_cli

    app.add_typer(build_cli(), name="limit_ladder")
