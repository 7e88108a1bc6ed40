"""``gateway daly decode|read|simulate``: decode frames, poll a unit once, serve a simulated unit.

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

from .decode import DalyPoll

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file whose \\[daly] section is used")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override one key: daly.key=value (repeatable)")
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


def read_stdin_text() -> str:
    """Standard input as text; binary or non-ASCII input is refused with a ValueError."""
    stream = getattr(sys.stdin, "buffer", None)
    raw = stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"stdin is not hex text (byte 0x{raw[exc.start]:02X} at offset {exc.start}); "
            "give the frames as hex, e.g. xxd -p capture.bin | gateway daly decode -"
        ) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as one line on stderr; the caller raises the returned exit."""
    typer.echo(f"gateway daly: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


def render_table(poll: DalyPoll, current_a: float | None, skipped: tuple[int, ...] = ()) -> str:
    """A human-readable summary of one poll."""
    rows: list[str] = []
    cells = poll.cell_voltages_v or ()
    if cells:
        rows.append(
            f"cells ({len(cells)})".ljust(15)
            + f"{min(cells):.3f} .. {max(cells):.3f} V (delta {max(cells) - min(cells):.3f} V)"
        )
        for first in range(0, len(cells), 8):
            part = cells[first : first + 8]
            rows.append(" " * 15 + "  ".join(f"{first + i + 1:>2}: {v:.3f}" for i, v in enumerate(part)))
    if poll.pack is not None and current_a is not None:
        direction = "charging" if current_a > 0 else "discharging" if current_a < 0 else "idle"
        rows.append(
            "pack".ljust(15) + f"{poll.pack.voltage_v:.1f} V, {current_a:+.1f} A ({direction}), "
            f"SOC {poll.pack.soc_pct:g} %"
        )
    if poll.temperatures_c is not None:
        rows.append(
            "temperatures".ljust(15) + (", ".join(f"{t:g} °C" for t in poll.temperatures_c) or "none")
        )
    if poll.mosfets is not None:
        on = {True: "on", False: "off"}
        rows.append(
            "MOSFETs".ljust(15) + f"charge {on[poll.mosfets.charge_mosfet_on]}, discharge "
            f"{on[poll.mosfets.discharge_mosfet_on]}; state {poll.mosfets.state}, remaining "
            f"{poll.mosfets.remaining_capacity_ah:g} Ah"
        )
    if poll.status is not None:
        rows.append(
            "counters".ljust(15) + f"{poll.status.cycle_count} cycles, {poll.status.probe_count} probes"
        )
    if poll.failures is not None:
        names = ", ".join(poll.failures.names) or "none"
        code = f" (fault code {poll.failures.fault_code})" if poll.failures.fault_code else ""
        rows.append("failures".ljust(15) + names + code)
    if skipped:
        rows.append("not answered".ljust(15) + ", ".join(f"0x{i:02X}" for i in skipped))
    return "\n".join(rows)


def build_cli() -> typer.Typer:
    """The ``gateway daly`` command group."""
    app = typer.Typer(
        help="Daly BMS (A5 frames): decode frames, read a BMS, simulate one.", no_args_is_help=True
    )

    @app.command("decode")
    def decode(
        frames_hex: Annotated[
            str,
            typer.Argument(metavar="HEX", help="one or more 13-byte reply frames as hex; '-' reads stdin"),
        ],
        invert_current: Annotated[bool, typer.Option(help="flip the current's sign")] = False,
    ) -> None:
        """Decode reply frames (one, a multi-frame 0x95/0x96 reply, or a whole poll) and print JSON.

        Exits 1 with the reason on one line if the input is invalid or impossible.
        """
        from gateway_core.errors import ImplausibleReply

        from .decode import assemble
        from .protocol import DalyFrameError, split_frames
        from .reading import to_json

        try:
            text = read_stdin_text() if frames_hex == "-" else frames_hex
            poll = assemble(split_frames(parse_hex(text)))
            doc = to_json(poll, invert_current=invert_current)
        except ValueError as exc:
            raise fail(f"invalid input: {exc}") from None
        except ImplausibleReply as exc:
            raise fail(f"implausible: {exc}") from None
        except DalyFrameError as exc:
            raise fail(f"invalid frame ({exc.reason}): {exc}") from None
        if not poll.ids:
            typer.echo(
                "gateway daly: note: 0x97 (balancing) is not decoded: its bit order is not established",
                err=True,
            )
        elif not poll.cells_counted and (poll.cell_voltages_v or poll.temperatures_c):
            typer.echo(
                "gateway daly: note: no 0x94 frame, so the cells and probes are every slot up to the last "
                "non-zero one (the last 0x95 frame may carry up to 2 stale slots)",
                err=True,
            )
        typer.echo(json.dumps(doc, indent=2))

    @app.command("read")
    def read(
        port: Annotated[
            str | None, typer.Option(help="serial device or pyserial URL (default: config)")
        ] = None,
        address: Annotated[int | None, typer.Option(help="board number (default: config, 1)")] = None,
        timeout: Annotated[float | None, typer.Option(help="seconds to wait for each reply")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Poll a Daly BMS once and print what it reports."""
        from gateway_core.clock import MonotonicClock
        from gateway_core.config import load_raw
        from gateway_core.errors import ConfigError, SourceError
        from gateway_core.roles import PluginContext
        from gateway_core.settings import build_section

        from .config import DalyConfig
        from .reading import signed_current, to_json
        from .source import DalySource

        try:
            raw, _ = load_raw(config, set_ or [])
            values: dict[str, Any] = dict(raw.values.get("daly", {}))
            origins = dict(raw.origins.get("daly", {}))
            for key, value in (("port", port), ("address", address), ("timeout", timeout)):
                if value is not None:
                    values[key], origins[key] = value, f"--{key}"
            cfg = build_section(DalyConfig, "daly", values, origins)
        except ConfigError as exc:
            raise fail(str(exc), 2) from None
        ctx = PluginContext("daly", MonotonicClock(), logging.getLogger("gateway.daly"), plugin="daly")
        source = DalySource(cfg, ctx)
        try:
            source.open()
            poll = source.read_poll()
            doc = to_json(poll, invert_current=cfg.invert_current)
            current = signed_current(poll, invert_current=cfg.invert_current)
        except SourceError as exc:
            raise fail(f"{type(exc).__name__}: {exc}") from None
        finally:
            source.close()
        if as_json:
            typer.echo(json.dumps(doc, indent=2))
        else:
            typer.echo(render_table(poll, current, source.skipped))

    @app.command("simulate")
    def simulate(
        cells: Annotated[int, typer.Option(min=1, max=48, help="cells in series")] = 16,
        probes: Annotated[int, typer.Option(min=0, max=21, help="temperature probes")] = 2,
        soc: Annotated[float, typer.Option(min=0, max=100, help="initial SOC, %")] = 50.0,
        current: Annotated[float, typer.Option(help="pack current, A (+ = charging)")] = 0.0,
        capacity: Annotated[float, typer.Option(min=1, help="capacity, Ah")] = 280.0,
        temperature: Annotated[float, typer.Option(min=-40, max=99, help="ambient, °C")] = 25.0,
        board: Annotated[int, typer.Option(min=1, max=16, help="board number")] = 1,
        refuse: Annotated[str, typer.Option(help="hex data ids not answered, e.g. 97,98")] = "",
        inverted: Annotated[bool, typer.Option(help="report the current with the minority sign")] = False,
        speed: Annotated[float, typer.Option(min=0, help="simulated seconds per real second")] = 1.0,
        fault: Annotated[
            list[str] | None, typer.Option(help="inject a fault on every reply (repeatable)")
        ] = None,
        link: Annotated[Path | None, typer.Option(help="also create this symlink to the pty")] = None,
        duration: Annotated[float | None, typer.Option(min=0, help="stop after N seconds")] = None,
    ) -> None:
        """Serve a simulated Daly BMS on a pty (9600 8N1); prints its path, serves until stopped."""
        from gateway_core.ptysim import PtyServer

        from .simulator import SimulatedDaly

        try:
            refused = [int(i, 16) for i in refuse.split(",") if i.strip()]
            sim = SimulatedDaly(
                cells,
                probes,
                soc,
                current,
                capacity,
                temperature,
                board=board,
                refuse=refused,
                inverted=inverted,
            )
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
                f"simulated {cells}-cell Daly BMS, board {board}, on {server.slave_path} (9600 8N1); "
                "Ctrl-C stops",
                err=True,
            )
            stop.wait(duration)
        finally:
            server.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    return app
