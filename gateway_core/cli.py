"""The ``gateway`` command line (typer); plugins add their subcommands through a hook.

No ``from __future__ import annotations`` here: typer reads the annotations at run time.
"""

import json
import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import pluggy
import typer

from .commands import register_core_commands
from .config import load_config
from .errors import ConfigError, StartupError
from .logsetup import setup_logging
from .plugins import call_each, collect_registrations, describe_plugins, make_plugin_manager
from .runner import build_gateway, choose_overrides, run_gateway

log = logging.getLogger("gateway.cli")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML config file (default: /etc/battery-gateway/gateway.toml if present)"
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="override one key: section.key=value (TOML value, or a plain string)"),
]


def package_version() -> str:
    """The installed distribution's version."""
    try:
        return version("battery-gateway")
    except PackageNotFoundError:
        return "0+unknown"


def show_version(value: bool) -> None:
    """``--version``: print the version and exit."""
    if value:
        typer.echo(f"gateway (battery-gateway) {package_version()}")
        raise typer.Exit()


def fail_startup(exc: StartupError) -> typer.Exit:
    """Print a start-up error as one line on stderr; the caller raises the returned exit 2."""
    typer.echo(f"gateway: error: {exc}", err=True)
    return typer.Exit(2)


#: Core commands that never need a plugin's subcommands: ``gateway run`` skips importing them
#: (every plugin's CLI module, about 100 ms of a Pi's start-up; docs/benchmarks.md).
NO_PLUGIN_COMMANDS = frozenset({"run"})


def build_app(pm: pluggy.PluginManager, *, plugin_commands: bool = True) -> typer.Typer:
    """The root command with the core commands and (unless told not to) every plugin's subcommands."""
    app = typer.Typer(
        name="gateway",
        help="battery-gateway: a BMS speaks to a solar inverter (JK BMS -> Pylontech CAN and more).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain help: rich help shows "--plain <bool>", as if flags took values
    )

    @app.callback()
    def root(
        _version: Annotated[
            bool,
            typer.Option(
                "--version", callback=show_version, is_eager=True, help="print the version and exit"
            ),
        ] = False,
    ) -> None:
        """battery-gateway: a BMS speaks to a solar inverter."""

    @app.command()
    def run(
        source: Annotated[
            list[str] | None, typer.Option(help="BMS source plugin or instance (repeat for a bank)")
        ] = None,
        policy: Annotated[str | None, typer.Option(help="limit policy plugin (default limit_ladder)")] = None,
        sink: Annotated[str | None, typer.Option(help="inverter sink plugin, e.g. pylontech")] = None,
        config: ConfigOption = None,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", "-s", help="override one key: section.key=value (repeatable)"),
        ] = None,
        cycles: Annotated[
            int | None, typer.Option(help="stop after N cycles (scripts, tests); at least 1")
        ] = None,
        log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
    ) -> None:
        """Run the gateway: read the BMS, decide limits, tell the inverter, every period."""
        setup_logging(log_level)
        try:
            if cycles is not None and cycles < 1:
                raise ConfigError(f"--cycles {cycles}: give at least 1 cycle")
            gateway = build_gateway(
                pm,
                config_path=config,
                overrides=choose_overrides(set_ or [], source, policy, sink),
                max_cycles=cycles,
            )
            code = run_gateway(gateway)
        except StartupError as exc:
            raise fail_startup(exc) from None
        raise typer.Exit(code)

    @app.command()
    def plugins(
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """List the installed plugins: name, role, package, version, description."""
        try:
            registry = collect_registrations(pm)
        except StartupError as exc:
            raise fail_startup(exc) from None
        rows = describe_plugins(registry)
        for name, error in registry.load_failures.items():
            typer.echo(f"! plugin '{name}' failed to load: {error}", err=True)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        headers = ("name", "role", "package", "version", "description")
        widths = [max(len(h), *(len(r[h]) for r in rows)) if rows else len(h) for h in headers]
        typer.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
        for row in rows:
            typer.echo("  ".join(row[h].ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())

    config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)

    @config_app.command("show")
    def config_show(config: ConfigOption = None, set_: SetOption = None) -> None:
        """Print the effective config (defaults < file < --set) as TOML."""
        from .config import render_toml

        try:
            registry = collect_registrations(pm)
            loaded = load_config(config, set_ or [], registry)
        except StartupError as exc:
            raise fail_startup(exc) from None
        typer.echo(render_toml(loaded))

    app.add_typer(config_app, name="config")
    register_core_commands(app, pm)

    def command_failed(plugin: str, exc: BaseException) -> None:
        log.warning("plugin '%s' could not add its commands: %s", plugin, exc)

    if plugin_commands:
        call_each(pm, "gateway_register_commands", on_error=command_failed, app=app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: ``gateway``."""
    args = argv if argv is not None else sys.argv[1:]
    pm = make_plugin_manager()
    app = build_app(pm, plugin_commands=not (args and args[0] in NO_PLUGIN_COMMANDS))
    app(args=args, prog_name="gateway")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
