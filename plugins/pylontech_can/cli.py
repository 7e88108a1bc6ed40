"""``gateway pylontech ...``: decode Pylontech frames and candump logs, and watch a bus live.

No ``from __future__ import annotations`` here: typer reads the annotations at run time.
"""

import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from .config import PylontechConfig

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file whose \\[pylontech] section gives the defaults"),
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override one key: pylontech.key=value")
]


def parse_id(text: str) -> int:
    """A CAN id given as hex, with or without ``0x`` (``0x351`` or ``351``). :raises ValueError:"""
    cleaned = text.strip().lower().removeprefix("0x")
    value = int(cleaned, 16)
    if not cleaned or value < 0 or value > 0x7FF:
        raise ValueError(f"{text!r} is not an 11-bit CAN id (000 to 7FF, hex)")
    return value


def parse_data(text: str) -> bytes:
    """Frame data as hex; spaces, colons, dots and dashes between bytes are allowed. :raises ValueError:"""
    cleaned = "".join(ch for ch in text if ch not in " :.-\t")
    data = bytes.fromhex(cleaned)
    if len(data) > 8:
        raise ValueError(f"{len(data)} data bytes: a classic CAN frame holds at most 8")
    return data


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` for can.Bus; the value is read as TOML (numbers, true/false) or kept as text."""
    if "=" not in text:
        raise ValueError(f"--option {text}: expected key=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def load_section(config: Path | None, overrides: list[str]) -> PylontechConfig:
    """The ``[pylontech]`` section from ``--config`` and ``--set`` (defaults otherwise)."""
    from gateway_core.config import load_raw
    from gateway_core.settings import build_section

    raw, _ = load_raw(config, [o for o in overrides])
    return build_section(
        PylontechConfig, "pylontech", raw.values.get("pylontech", {}), raw.origins.get("pylontech", {})
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"gateway pylontech: error: {message}", err=True)
    return typer.Exit(code)


def build_cli() -> typer.Typer:
    """The ``pylontech`` command group."""
    app = typer.Typer(
        help="Pylontech low-voltage CAN: decode frames and candump logs, watch a bus.",
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
    ) -> None:
        """Print the physical values of one frame, or of every frame in a candump log, as JSON."""
        from .decode import FrameDecodeError, decode_candump_frame, decode_frame, parse_candump_line

        if candump is not None:
            if frame_id is not None:
                raise _fail("give either ID DATA_HEX or --candump FILE, not both")
            try:
                text = sys.stdin.read() if str(candump) == "-" else candump.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise _fail(f"{candump}: cannot read the candump log: {exc}") from None
            count = 0
            for number, line in enumerate(text.splitlines(), start=1):
                frame = parse_candump_line(line, number)
                if frame is None:
                    if line.strip() and not line.lstrip().startswith(("#", "//")):
                        typer.echo(
                            f"{candump}:{number}: skipped, not a classic CAN frame: {line.strip()}", err=True
                        )
                    continue
                typer.echo(json.dumps(decode_candump_frame(frame)))
                count += 1
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
            values = decode_frame(arbitration_id, data)
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
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Show, refreshing, the latest frame of each id on a bus with its age and decoded values."""
        import can

        from gateway_core.clock import MonotonicClock
        from gateway_core.errors import ConfigError

        from .monitor import run_monitor

        try:
            cfg = load_section(config, set_ or [])
            options: dict[str, Any] = dict(cfg.bus_options)
            options.update(parse_option(text) for text in option or [])
        except (ConfigError, ValueError) as exc:
            raise _fail(str(exc)) from None
        where = f"{interface or cfg.interface} {channel or cfg.channel}"
        try:
            bus = can.Bus(
                interface=interface or cfg.interface,
                channel=channel or cfg.channel,
                bitrate=bitrate or cfg.bitrate,
                **options,
            )
        except (can.CanError, OSError, ValueError, TypeError, ImportError) as exc:
            raise _fail(f"cannot open CAN bus {where}: {exc}", 1) from None
        clear = sys.stdout.isatty()

        def show(lines: list[str]) -> None:
            prefix = "\x1b[H\x1b[2J" if clear else ""
            typer.echo(prefix + "\n".join(lines) + ("" if clear else "\n"))

        try:
            run_monitor(
                bus, MonotonicClock(), show, refresh_s=refresh, duration_s=seconds, title=f"bus {where}"
            )
        except KeyboardInterrupt:
            pass
        except (can.CanError, OSError) as exc:
            raise _fail(f"bus {where} failed: {exc}", 1) from None
        finally:
            bus.shutdown()

    return app
