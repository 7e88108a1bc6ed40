"""``gateway sma_em decode|listen``: decode one datagram, or print what arrives on the Speedwire port.

No ``from __future__ import annotations`` here: typer reads the annotations at run time.
"""

import json
import re
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .config import SmaEmConfig
from .speedwire import SIGNATURE

#: Longest input ``decode -`` reads from stdin (a datagram is 600 or 608 bytes).
MAX_STDIN_BYTES = 64 * 1024

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file whose \\[sma_em] section is used")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override one key: sma_em.key=value (repeatable)")
]


def parse_hex(text: str) -> bytes:
    """Hex text (spaces, colons, commas and ``0x`` prefixes allowed) -> bytes. :raises ValueError:."""
    tokens = [t.removeprefix("0x").removeprefix("0X") for t in re.split(r"[\s:,]+", text.strip()) if t]
    digits = "".join(tokens)
    if not digits:
        raise ValueError("no hex digits given")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
        raise ValueError(
            f"not hex: unexpected {bad!r}" if bad else f"odd number of hex digits ({len(digits)})"
        ) from None


def read_input(data: bytes) -> bytes:
    """Stdin for ``decode -``: a raw datagram (starts with ``SMA\\0``) or hex text. :raises ValueError:."""
    if len(data) > MAX_STDIN_BYTES:
        raise ValueError(f"more than {MAX_STDIN_BYTES} bytes on stdin; a datagram is about 600")
    if data.startswith(SIGNATURE):
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{data[exc.start]:02X} at offset {exc.start}"
        raise ValueError(f"stdin is neither hex text nor a raw datagram ({where})") from None
    return parse_hex(text)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as one line on stderr; the caller raises the returned exit."""
    typer.echo(f"gateway sma_em: {message}", err=True)
    return typer.Exit(code)


def load_config(config: Path | None, sets: list[str], options: dict[str, Any]) -> SmaEmConfig:
    """The ``[sma_em]`` section from the file and ``--set``, with command-line options on top."""
    from gateway_core.config import load_raw
    from gateway_core.settings import build_section

    raw, _ = load_raw(config, sets)
    values: dict[str, Any] = dict(raw.values.get("sma_em", {}))
    origins = dict(raw.origins.get("sma_em", {}))
    for key, value in options.items():
        if value is not None:
            values[key], origins[key] = value, f"--{key}"
    built: SmaEmConfig = build_section(SmaEmConfig, "sma_em", values, origins)
    return built


def build_cli() -> typer.Typer:
    """The ``gateway sma_em`` command group."""
    app = typer.Typer(
        help="SMA Energy Meter (Speedwire): decode datagrams, listen to a meter.", no_args_is_help=True
    )

    @app.command("decode")
    def decode(
        datagram_hex: Annotated[
            str, typer.Argument(metavar="HEX", help="one datagram as hex; '-' reads stdin")
        ],
    ) -> None:
        """Decode one datagram and print it as JSON (exit 1 with the reason if it is invalid)."""
        from .reading import to_json
        from .speedwire import SpeedwireError
        from .speedwire import decode as decode_datagram

        try:
            data = read_input(sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)) if datagram_hex == "-" else None
            datagram = decode_datagram(data if data is not None else parse_hex(datagram_hex))
        except SpeedwireError as exc:
            raise fail(f"invalid datagram ({exc.reason}): {exc}") from None
        except ValueError as exc:
            raise fail(f"invalid input: {exc}") from None
        typer.echo(json.dumps(to_json(datagram), indent=2))

    @app.command("listen")
    def listen(
        group: Annotated[
            str | None, typer.Option(help='multicast group ("" = unicast only; default: config)')
        ] = None,
        listen_on: Annotated[
            str | None, typer.Option("--listen", help="address:port to bind (default: config)")
        ] = None,
        serial: Annotated[int | None, typer.Option(help="only this meter (default: config; 0 = all)")] = None,
        count: Annotated[int | None, typer.Option(min=1, help="stop after N valid datagrams")] = None,
        seconds: Annotated[float | None, typer.Option(min=0.1, help="stop after N seconds")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Print every datagram that arrives (refused ones on stderr); Ctrl-C stops."""
        from gateway_core.errors import ConfigError, StartupError

        from .meter import MAX_DATAGRAM, open_socket
        from .reading import summary, to_json
        from .speedwire import SpeedwireError
        from .speedwire import decode as decode_datagram

        try:
            cfg = load_config(config, set_ or [], {"group": group, "listen": listen_on, "serial": serial})
            sock = open_socket(cfg)
        except ConfigError as exc:
            raise fail(str(exc), 2) from None
        except StartupError as exc:
            raise fail(str(exc), 2) from None
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        where = f"group {cfg.group}" if cfg.group else "unicast only"
        typer.echo(f"listening on {cfg.listen} ({where}); Ctrl-C stops", err=True)
        end = None if seconds is None else time.monotonic() + seconds
        shown = 0
        try:
            while not stop.is_set() and (count is None or shown < count):
                wait = 0.2 if end is None else min(0.2, end - time.monotonic())
                if wait <= 0:
                    break
                if not select.select([sock], [], [], wait)[0]:
                    continue
                data, sender = sock.recvfrom(MAX_DATAGRAM)
                try:
                    datagram = decode_datagram(data)
                except SpeedwireError as exc:
                    typer.echo(f"{sender[0]}: refused ({exc.reason}): {exc}", err=True)
                    continue
                if cfg.serial and datagram.serial != cfg.serial:
                    continue
                shown += 1
                if as_json:
                    typer.echo(json.dumps({**to_json(datagram), "from": sender[0]}))
                else:
                    typer.echo(f"{summary(datagram)}  from {sender[0]}")
                sys.stdout.flush()
        finally:
            sock.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if shown == 0 and not stop.is_set():
            raise fail(f"no energy meter datagram in {seconds:g} s on {cfg.listen} ({where})")

    return app
