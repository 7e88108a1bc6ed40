"""``gateway jbd decode|read|simulate``: decode captured replies, poll a BMS once, serve a simulated BMS.

No ``from __future__ import annotations`` here: typer reads the annotations at run time.
"""

import json
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from .decode import BasicInfo

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file whose \\[jbd] section is used")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override one key: jbd.key=value (repeatable)")
]


def parse_hex(text: str) -> bytes:
    """Hex text (spaces, colons, dots, commas and ``0x`` prefixes allowed) -> bytes. :raises ValueError:."""
    tokens = [t.removeprefix("0x").removeprefix("0X") for t in re.split(r"[\s:.,]+", text.strip()) if t]
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


def read_stdin_text() -> str:
    """Standard input as text. :raises ValueError: it is binary, not hex text."""
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"stdin is not hex text (byte 0x{raw[exc.start]:02X} at offset {exc.start}): give replies as hex"
        ) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as one line on stderr; the caller raises the returned exit."""
    typer.echo(f"gateway jbd: {message}", err=True)
    return typer.Exit(code)


def render_table(basic: BasicInfo, cells: tuple[float, ...], name: str | None, *, invert: bool) -> str:
    """A human-readable summary of one poll."""
    current = -basic.current_a if invert else basic.current_a
    direction = "charging" if current > 0 else "discharging" if current < 0 else "idle"
    on = {True: "on", False: "off"}
    rows = [
        "model".ljust(15) + (name or "(no name)"),
        f"cells ({len(cells)})".ljust(15)
        + f"{min(cells):.3f} .. {max(cells):.3f} V (delta {max(cells) - min(cells):.3f} V)",
    ]
    for first in range(0, len(cells), 8):
        part = cells[first : first + 8]
        rows.append(" " * 15 + "  ".join(f"{first + i + 1:>2}: {v:.3f}" for i, v in enumerate(part)))
    rows += [
        "pack".ljust(15) + f"{basic.voltage_v:.2f} V, {current:+.2f} A ({direction})",
        "SOC".ljust(15) + f"{basic.soc_pct} %, {basic.remaining_capacity_ah:g} of "
        f"{basic.nominal_capacity_ah:g} Ah, {basic.cycle_count} cycles",
        "temperatures".ljust(15) + (", ".join(f"{t:g} °C" for t in basic.temperatures_c) or "no NTC"),
        "MOSFETs".ljust(15)
        + f"charge {on[basic.charge_mosfet_on]}, discharge {on[basic.discharge_mosfet_on]}",
        "balancing".ljust(15) + (", ".join(map(str, basic.balancing_cells)) or "none"),
        "protection".ljust(15) + (", ".join(basic.protections) or "none"),
        "firmware".ljust(15) + f"{basic.software_version}, made {basic.manufacture_date or 'unknown'}",
    ]
    return "\n".join(rows)


def build_cli() -> typer.Typer:
    """The ``gateway jbd`` command group."""
    app = typer.Typer(
        help="JBD BMS UART (DD A5): decode replies, read a BMS, simulate one.", no_args_is_help=True
    )

    @app.command("decode")
    def decode(
        replies: Annotated[
            list[str],
            typer.Argument(metavar="HEX", help="reply frames as hex (0x03, 0x04, 0x05); '-' reads stdin"),
        ],
        invert_current: Annotated[bool, typer.Option(help="flip the current's sign")] = False,
    ) -> None:
        """Decode one or more replies and print them as JSON (exit 1 with the reason if invalid)."""
        from gateway_core.errors import ImplausibleReply

        from .capture import decode_capture
        from .protocol import JbdFrameError
        from .reading import to_json

        try:
            text = read_stdin_text() if replies == ["-"] else " ".join(replies)
            capture = decode_capture(parse_hex(text))
        except ValueError as exc:
            raise fail(f"invalid input: {exc}") from None
        except JbdFrameError as exc:
            raise fail(f"invalid reply ({exc.reason}): {exc}") from None
        except ImplausibleReply as exc:
            raise fail(f"impossible reply: {exc}") from None
        out = to_json(capture.basic, capture.cells, capture.name, invert_current=invert_current)
        typer.echo(json.dumps(out, indent=2))

    @app.command("read")
    def read(
        port: Annotated[
            str | None, typer.Option(help="serial device or pyserial URL (default: config)")
        ] = None,
        timeout: Annotated[float | None, typer.Option(help="seconds to wait for each reply")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Poll a JBD BMS once (hardware name, basic info, cells) and print what it reports."""
        from gateway_core.clock import MonotonicClock
        from gateway_core.config import load_raw
        from gateway_core.errors import ConfigError, SourceError
        from gateway_core.roles import PluginContext
        from gateway_core.settings import build_section

        from .config import JbdConfig
        from .reading import to_json
        from .source import JbdSource

        try:
            raw, _ = load_raw(config, set_ or [])
            values: dict[str, Any] = dict(raw.values.get("jbd", {}))
            origins = dict(raw.origins.get("jbd", {}))
            for key, value in (("port", port), ("timeout", timeout)):
                if value is not None:
                    values[key], origins[key] = value, f"--{key}"
            cfg = build_section(JbdConfig, "jbd", values, origins)
        except ConfigError as exc:
            raise fail(str(exc), 2) from None
        source = JbdSource(cfg, PluginContext("jbd", MonotonicClock(), logging.getLogger("gateway.jbd")))
        try:
            source.open()
            basic, cells = source.poll()
            out = to_json(basic, cells, source.hardware_name, invert_current=cfg.invert_current)
        except SourceError as exc:
            raise fail(f"{type(exc).__name__}: {exc}") from None
        finally:
            source.close()
        if as_json:
            typer.echo(json.dumps(out, indent=2))
        else:
            typer.echo(render_table(basic, cells, source.hardware_name, invert=cfg.invert_current))

    @app.command("simulate")
    def simulate(
        cells: Annotated[int, typer.Option(min=3, max=32, help="cells in series")] = 16,
        soc: Annotated[float, typer.Option(min=0, max=100, help="initial SOC, %")] = 50.0,
        current: Annotated[float, typer.Option(help="pack current, A (+ = charging)")] = 0.0,
        capacity: Annotated[float, typer.Option(min=1, help="capacity, Ah")] = 100.0,
        temperature: Annotated[float, typer.Option(min=-40, max=99, help="ambient, °C")] = 25.0,
        ntc: Annotated[int, typer.Option(min=0, max=8, help="NTC probes")] = 3,
        speed: Annotated[float, typer.Option(min=0, help="simulated seconds per real second")] = 1.0,
        fault: Annotated[
            list[str] | None, typer.Option(help="inject a fault on every reply (repeatable)")
        ] = None,
        link: Annotated[Path | None, typer.Option(help="also create this symlink to the pty")] = None,
        duration: Annotated[float | None, typer.Option(min=0, help="stop after N seconds")] = None,
    ) -> None:
        """Serve a simulated JBD BMS on a pty at 9600 baud; prints its path, serves until stopped."""
        from gateway_core.ptysim import PtyServer

        from .simulator import SimulatedJbd

        try:
            sim = SimulatedJbd(cells, soc, current, capacity, temperature, ntc_count=ntc)
            for name in fault or []:
                sim.inject(name)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
        server = PtyServer(sim, link=str(link) if link is not None else None, speed=speed, baud=9600)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            path = server.start()
            typer.echo(path)
            sys.stdout.flush()
            typer.echo(
                f"simulated {cells}-cell JBD BMS on {server.slave_path} (9600 8N1); Ctrl-C stops", err=True
            )
            stop.wait(duration)
        finally:
            server.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    return app
