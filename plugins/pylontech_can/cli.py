"""``gateway pylontech ...``: decode frames and candump logs, watch a bus, list the inverter profiles.

Every error is one line on stderr (exit 1: nothing to decode or the bus failed; 2: bad arguments or
config), never a traceback. No ``from __future__ import annotations`` here: typer reads the
annotations at run time.
"""

import json
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from gateway_core.errors import ConfigError

from .config import PylontechConfig
from .profile import HEX_DIGITS, Profile, ProfileError, load_shipped, resolve

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file whose \\[pylontech] section gives the defaults"),
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override one key: pylontech.key=value")
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", "-p", help="inverter profile (or a profile .toml file) whose frame layouts to use"
    ),
]
#: What works across processes, for the note on the virtual bus.
ACROSS_PROCESSES = "socketcan (can0, or vcan0 without hardware), slcan or udp_multicast"
VIRTUAL_NOTE = (
    "note: python-can's virtual bus exists only inside one process: this monitor sees only frames "
    f"sent from its own process, never another gateway's; across processes use {ACROSS_PROCESSES}"
)


def parse_id(text: str) -> int:
    """A CAN id given as hex, with or without ``0x`` (``0x351`` or ``351``). :raises ValueError:"""
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    if digits and len(digits) == 8 and set(digits) <= HEX_DIGITS:
        raise ValueError(
            f"{_show(text)} is a 29-bit CAN id: the Pylontech frames use 11-bit ids (000 to 7FF)"
        )
    if not digits or len(digits) > 3 or not set(digits) <= HEX_DIGITS or int(digits, 16) > 0x7FF:
        raise ValueError(f"{_show(text)} is not an 11-bit CAN id (000 to 7FF, hex)")
    return int(digits, 16)


def parse_data(text: str) -> bytes:
    """Frame data as hex; spaces, colons, dots and dashes between bytes are allowed. :raises ValueError:"""
    cleaned = "".join(ch for ch in text if ch not in " :.-\t")
    if len(cleaned) > 16 and set(cleaned) <= HEX_DIGITS:
        raise ValueError(f"{len(cleaned) // 2} data bytes: a classic CAN frame holds at most 8")
    if len(cleaned) % 2 or not set(cleaned) <= HEX_DIGITS or len(cleaned) > 16:
        raise ValueError(f"DATA_HEX {_show(text)} is not whole bytes of hex digits (e.g. 1402C012)")
    return bytes.fromhex(cleaned)


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` for can.Bus; the value is read as TOML (numbers, true/false) or kept as text."""
    if "=" not in text:
        raise ValueError(f"--option {_show(text)}: expected key=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        value = raw
    return key.strip(), value


def load_section(config: Path | None, overrides: list[str]) -> PylontechConfig:
    """The ``[pylontech]`` section from ``--config`` and ``--set`` (defaults otherwise)."""
    from gateway_core.config import load_raw
    from gateway_core.settings import build_section

    raw, _ = load_raw(config, list(overrides))
    try:
        return build_section(
            PylontechConfig, "pylontech", raw.values.get("pylontech", {}), raw.origins.get("pylontech", {})
        )
    except OverflowError:  # a 400-digit number compared with a float bound
        raise ConfigError("[pylontech]: a number is too large for any key") from None


def pick_profile(name: str | None, cfg: PylontechConfig | None = None) -> Profile:
    """The effective profile: ``name`` (a shipped name or a .toml file) or the config's, then its
    ``[pylontech]`` overrides. :raises ProfileError: unknown name, bad file or override."""
    cfg = cfg if cfg is not None else PylontechConfig()
    if name is not None and (name.endswith(".toml") or "/" in name):
        cfg = replace(cfg, profile_file=name)
    elif name is not None:
        load_shipped(name)  # an unknown name is refused by name, before any override
        cfg = replace(cfg, profile=name, profile_file=None)
    return resolve(cfg)


def _show(text: str, limit: int = 60) -> str:
    """``text`` quoted for an error line: control characters escaped, cut when long."""
    shown = repr(text[:limit])
    return shown + ("..." if len(text) > limit else "")


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"gateway pylontech: error: {message}", err=True)
    return typer.Exit(code)


def _decode_log(source: Path, stream: BinaryIO, variants: dict[int, str | None]) -> int:
    """Print one JSON record per frame of a candump log; name each skipped line. Returns the count."""
    from .candump import CandumpError, read_lines
    from .decode import decode_candump_frame, parse_candump_line

    count = 0
    try:
        for line in read_lines(stream):
            if line.text is None:
                typer.echo(f"{source}:{line.number}: skipped, {line.problem}", err=True)
                continue
            frame = parse_candump_line(line.text, line.number)
            if frame is None:
                text = line.text.strip()
                if text and not text.startswith(("#", "//")):
                    reason = "not a classic CAN frame"
                    typer.echo(f"{source}:{line.number}: skipped, {reason}: {_printable(text)}", err=True)
                continue
            typer.echo(json.dumps(decode_candump_frame(frame, variants)))
            count += 1
    except CandumpError as exc:
        raise _fail(f"{source}: {exc}", 1) from None
    except OSError as exc:
        raise _fail(f"{source}: cannot read the candump log: {exc.strerror or exc}") from None
    return count


def build_cli() -> typer.Typer:
    """The ``pylontech`` command group."""
    app = typer.Typer(
        help="Pylontech low-voltage CAN: decode frames and candump logs, watch a bus, inverter profiles.",
        no_args_is_help=True,
    )

    @app.command()
    def decode(
        frame_id: Annotated[
            str | None, typer.Argument(metavar="ID", help="CAN id in hex: 0x351 or 351 (or 351#1402...)")
        ] = None,
        data_hex: Annotated[
            str | None, typer.Argument(metavar="DATA_HEX", help="data bytes in hex, e.g. 1402C012C012C201")
        ] = None,
        candump: Annotated[
            Path | None,
            typer.Option("--candump", help="decode every frame of a candump log (- for stdin)"),
        ] = None,
        profile: ProfileOption = None,
    ) -> None:
        """Print the physical values of one frame, or of every frame in a candump log, as JSON."""
        from .decode import FrameDecodeError, decode_frame

        try:
            variants = pick_profile(profile).variants if profile else {}
        except ProfileError as exc:
            raise _fail(str(exc)) from None
        if candump is not None:
            if frame_id is not None:
                raise _fail("give either ID DATA_HEX or --candump FILE, not both")
            if str(candump) == "-":
                count = _decode_log(candump, sys.stdin.buffer, variants)
            else:
                try:
                    handle = candump.open("rb")
                except OSError as exc:
                    raise _fail(f"{candump}: cannot read the candump log: {exc.strerror or exc}") from None
                with handle:
                    count = _decode_log(candump, handle, variants)
            if count == 0:
                raise _fail(f"{candump}: no candump frames found", 1)
            return
        if frame_id is None:
            raise _fail("give ID DATA_HEX (e.g. 351 1402C012C012C201) or --candump FILE")
        if data_hex is None and "#" in frame_id:
            frame_id, data_hex = frame_id.split("#", 1)
        try:
            arbitration_id = parse_id(frame_id)
            data = parse_data(data_hex or "")
        except ValueError as exc:
            raise _fail(str(exc)) from None
        try:
            values = decode_frame(arbitration_id, data, variants.get(arbitration_id))
        except FrameDecodeError as exc:
            raise _fail(str(exc), 1) from None
        typer.echo(json.dumps(values, indent=2))

    @app.command()
    def monitor(
        interface: Annotated[
            str | None, typer.Option(help="python-can interface (default from config)")
        ] = None,
        channel: Annotated[str | None, typer.Option(help="channel, e.g. can0 or /dev/ttyACM0")] = None,
        bitrate: Annotated[int | None, typer.Option(help="bit/s (default from config: 500000)")] = None,
        option: Annotated[
            list[str] | None, typer.Option("--option", "-o", help="extra can.Bus argument key=value")
        ] = None,
        seconds: Annotated[float | None, typer.Option(min=0, help="stop after this long")] = None,
        refresh: Annotated[float, typer.Option(min=0.05, help="seconds between redraws")] = 0.5,
        profile: ProfileOption = None,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Show, refreshing, the latest frame of each id on a bus with its age and decoded values."""
        from .monitor_command import watch

        try:
            cfg = load_section(config, set_ or [])
            options: dict[str, Any] = dict(cfg.bus_options)
            options.update(parse_option(text) for text in option or [])
            chosen = pick_profile(profile, cfg)
        except (ConfigError, ValueError, OSError) as exc:  # ProfileError is a ValueError
            raise _fail(str(exc)) from None
        bus_interface = interface or cfg.interface
        if bus_interface == "virtual":
            typer.echo(VIRTUAL_NOTE, err=True)
        code, message = watch(
            bus_interface, channel or cfg.channel, bitrate or cfg.bitrate, options, chosen, seconds, refresh
        )
        if message:
            raise _fail(message, code)

    @app.command()
    def profiles() -> None:
        """List the shipped inverter profiles, one line each."""
        from .profile import shipped_names

        for name in shipped_names():
            typer.echo(f"{name:<17} {load_shipped(name).description}")

    profile_app = typer.Typer(help="Inverter profiles.", no_args_is_help=True)
    app.add_typer(profile_app, name="profile")

    @profile_app.command("show")
    def profile_show(
        name: Annotated[
            str | None,
            typer.Argument(metavar="NAME", help="profile name or .toml file (default: the config's profile)"),
        ] = None,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Print a profile's effective settings (with the [pylontech] overrides), as TOML."""
        from .profile import render

        try:
            effective = pick_profile(name, load_section(config, set_ or []))
        except (ConfigError, ValueError, OSError) as exc:
            raise _fail(str(exc)) from None
        typer.echo("\n".join(render(effective)))

    return app
