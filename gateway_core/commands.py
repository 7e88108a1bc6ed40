"""Core commands beyond ``run``: ``gateway service install|uninstall``.

No ``from __future__ import annotations`` here: typer reads the annotations at run time.
"""

from pathlib import Path, PurePosixPath
from typing import Annotated

import pluggy
import typer

from . import service
from .config import DEFAULT_CONFIG_PATH

RootOption = Annotated[
    Path,
    typer.Option("--root", help="install under this directory instead of / (image builds, tests)"),
]
InterfaceOption = Annotated[
    str, typer.Option("--interface", help="CAN network interface the .network file brings up")
]


def register_core_commands(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    """Add ``service`` (install/uninstall) to the root command (``demo`` is the gateway_demo plugin's)."""
    app.add_typer(build_service_cli(), name="service")


def build_service_cli() -> typer.Typer:
    """The ``gateway service`` command group."""
    cli = typer.Typer(help="Install or remove the systemd service (unit, can0 network, udev rule).")

    @cli.command("install")
    def install(
        user: Annotated[
            str, typer.Option("--user", help="unprivileged user the service runs as")
        ] = service.DEFAULT_USER,
        config: Annotated[
            Path,
            typer.Option(
                "--config",
                "-c",
                help="config file the service reads; a commented default is written if absent",
            ),
        ] = DEFAULT_CONFIG_PATH,
        gateway: Annotated[
            Path | None,
            typer.Option(
                "--gateway", help="absolute path of the gateway script for ExecStart= (default: this one)"
            ),
        ] = None,
        root: RootOption = Path("/"),
        interface: InterfaceOption = service.DEFAULT_INTERFACE,
        bitrate: Annotated[
            int, typer.Option("--bitrate", help="CAN bitrate, bit/s")
        ] = service.DEFAULT_BITRATE,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="print what would be written; write nothing")
        ] = False,
        force: Annotated[bool, typer.Option("--force", help="replace an existing config file")] = False,
        web: Annotated[
            bool, typer.Option("--web", help="add a drop-in that opens IP for the web page (docs/web.md)")
        ] = False,
    ) -> None:
        """Write the systemd unit, the CAN .network file, the udev rule, the sysusers entry and a config."""
        executable = PurePosixPath(gateway) if gateway is not None else service.default_gateway_executable()
        if executable is None:
            typer.echo(
                "gateway: error: cannot find the gateway script; pass --gateway /path/to/gateway", err=True
            )
            raise typer.Exit(2)
        try:
            opts = service.InstallOptions(
                executable,
                user=user,
                config=PurePosixPath(config),
                interface=interface,
                bitrate=bitrate,
                web=web,
            )
            plan = service.plan_install(opts)
            for warning in service.warnings_for(opts):
                typer.echo(f"gateway: warning: {warning}", err=True)
            if dry_run:
                typer.echo(service.render_dry_run(plan, root, force=force), nl=False)
                typer.echo("# dry run: nothing was written")
                return
            service.apply_plan(plan, root, force=force, echo=typer.echo)
        except service.ServiceError as exc:
            typer.echo(f"gateway: error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(service.next_steps(opts, root_is_system=root == Path("/")))

    @cli.command("uninstall")
    def uninstall(
        root: RootOption = Path("/"),
        interface: InterfaceOption = service.DEFAULT_INTERFACE,
        purge: Annotated[bool, typer.Option("--purge", help="also remove the config file")] = False,
        config: Annotated[
            Path | None,
            typer.Option("--config", "-c", help="config file --purge removes (default: the unit's)"),
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would be removed")] = False,
        force: Annotated[
            bool, typer.Option("--force", help="remove files even without battery-gateway's marker")
        ] = False,
    ) -> None:
        """Remove the unit, the .network file, the udev rule and the sysusers entry (the config stays)."""
        user, unit_config = service.installed_user_and_config(root)
        config = config if config is not None else Path(unit_config)
        if root == Path("/") and not dry_run:
            typer.echo("Stop the service first: systemctl disable --now battery-gateway.service")
        try:
            service.uninstall(
                service.installed_files(interface), root, force=force, dry_run=dry_run, echo=typer.echo
            )
            if purge:  # the config is the administrator's file: it carries no marker once edited
                service.uninstall([PurePosixPath(config)], root, force=True, dry_run=dry_run, echo=typer.echo)
        except service.ServiceError as exc:
            typer.echo(f"gateway: error: {exc}", err=True)
            raise typer.Exit(2) from None
        dropins = service.on_root(root, service.WEB_DROPIN_PATH).parent
        if not dry_run and dropins.is_dir() and not any(dropins.iterdir()):
            dropins.rmdir()
        if purge and not dry_run:
            config_dir = service.on_root(root, PurePosixPath(config)).parent
            if config_dir.is_dir() and not any(config_dir.iterdir()):
                config_dir.rmdir()
                typer.echo(f"removed  {config_dir}/")
        if not purge:
            typer.echo(
                f"The config {service.on_root(root, PurePosixPath(config))} stays (--purge removes it)."
            )
        if user == service.DEFAULT_USER:
            typer.echo(f"Then: systemctl daemon-reload; userdel {user} if no longer wanted.")
        else:  # an account the administrator chose, e.g. pi: never suggest deleting it
            typer.echo("Then: systemctl daemon-reload.")

    return cli
