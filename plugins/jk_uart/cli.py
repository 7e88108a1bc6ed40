"""``gateway jk_uart decode|read|simulate``: decode a frame, poll a BMS once, serve a simulated BMS.

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

from .decode import JkStatus

#: The line speed ``simulate`` keeps on its pty, as a real JK BMS does (the source refuses faster replies).
BAUD = 115200

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file whose \\[jk_uart] section is used")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override one key: jk_uart.key=value (repeatable)")
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


#: Longest input ``decode -`` reads from stdin (a frame is at most 514 bytes, ~1.6 kB as spaced hex).
MAX_STDIN_BYTES = 64 * 1024


def read_frame_input(data: bytes) -> bytes:
    """Stdin for ``decode -``: a raw binary frame (starts with ``4E 57``) or hex text. :raises ValueError:."""
    if len(data) > MAX_STDIN_BYTES:
        raise ValueError(f"more than {MAX_STDIN_BYTES} bytes on stdin; one frame is at most 514 bytes")
    if data.startswith(b"NW"):  # 4E 57: the frame itself, not hex digits
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{data[exc.start]:02X} at offset {exc.start}"
        raise ValueError(f"stdin is neither hex text nor a binary frame ({where})") from None
    return parse_hex(text)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as one line on stderr; the caller raises the returned exit."""
    typer.echo(f"gateway jk_uart: {message}", err=True)
    return typer.Exit(code)


def render_table(status: JkStatus, *, invert_current: bool = False) -> str:
    """A human-readable summary of one reply."""
    cells = status.cell_voltages_v
    current = -status.current_a if invert_current else status.current_a
    direction = "charging" if current > 0 else "discharging" if current < 0 else "idle"
    rows = [
        f"cells ({len(cells)})".ljust(15)
        + f"{min(cells):.3f} .. {max(cells):.3f} V (delta {max(cells) - min(cells):.3f} V)",
    ]
    for first in range(0, len(cells), 8):
        part = cells[first : first + 8]
        rows.append(" " * 15 + "  ".join(f"{first + i + 1:>2}: {v:.3f}" for i, v in enumerate(part)))
    on = {True: "on", False: "off"}
    rows += [
        "pack".ljust(15) + f"{status.voltage_v:.2f} V, {current:+.2f} A ({direction}), "
        f"{status.voltage_v * current:+.0f} W",
        "SOC".ljust(15)
        + f"{status.soc_pct} %, {status.cycle_count} cycles, capacity {status.capacity_ah} Ah",
        "temperatures".ljust(15) + f"MOSFET {status.mosfet_temperature_c:g} °C, "
        f"T1 {status.t1_temperature_c:g} °C, T2 {status.t2_temperature_c:g} °C",
        "MOSFETs".ljust(15)
        + f"charge {on[status.charge_mosfet_on]}, discharge {on[status.discharge_mosfet_on]}, "
        f"balancing {on[status.balancing]}",
        "alarms".ljust(15) + (", ".join(status.alarms) or "none"),
        "protection".ljust(15) + f"cell OVP {status.cell_ovp_v} V, UVP {status.cell_uvp_v} V, "
        f"charge OCP {status.charge_ocp_a} A, discharge OCP {status.discharge_ocp_a} A",
        "firmware".ljust(15) + f"{status.software_version}, serial {status.serial_number}",
    ]
    if status.zero_voltage_cells:
        rows.append("WARNING".ljust(15) + f"cells reading 0 mV: {list(status.zero_voltage_cells)}")
    return "\n".join(rows)


def build_cli() -> typer.Typer:
    """The ``gateway jk_uart`` command group."""
    app = typer.Typer(
        help="JK BMS UART (4E 57): decode frames, read a BMS, simulate one.", no_args_is_help=True
    )

    @app.command("decode")
    def decode(
        frame_hex: Annotated[str, typer.Argument(metavar="HEX", help="one frame as hex; '-' reads stdin")],
        invert_current: Annotated[bool, typer.Option(help="flip the current's sign")] = False,
    ) -> None:
        """Decode one reply frame and print it as JSON (exit 1 with the reason if it is invalid)."""
        from .decode import decode_frame
        from .protocol import JkFrameError, parse_frame
        from .reading import to_json

        try:
            if frame_hex == "-":
                raw = read_frame_input(sys.stdin.buffer.read(MAX_STDIN_BYTES + 1))
            else:
                raw = parse_hex(frame_hex)
            status = decode_frame(parse_frame(raw))
        except ValueError as exc:
            raise fail(f"invalid input: {exc}") from None
        except JkFrameError as exc:
            raise fail(f"invalid frame ({exc.reason}): {exc}") from None
        typer.echo(json.dumps(to_json(status, invert_current=invert_current), indent=2))

    @app.command("read")
    def read(
        port: Annotated[
            str | None, typer.Option(help="serial device or pyserial URL (default: config)")
        ] = None,
        timeout: Annotated[float | None, typer.Option(help="seconds to wait for the reply")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Poll a JK BMS once and print what it reports."""
        from gateway_core.clock import MonotonicClock
        from gateway_core.config import load_raw
        from gateway_core.errors import ConfigError, SourceError
        from gateway_core.roles import PluginContext
        from gateway_core.settings import build_section

        from .config import JkUartConfig
        from .reading import is_booting, to_json
        from .source import JkUartSource

        try:
            raw, _ = load_raw(config, set_ or [])
            values: dict[str, Any] = dict(raw.values.get("jk_uart", {}))
            origins = dict(raw.origins.get("jk_uart", {}))
            for key, value in (("port", port), ("timeout", timeout)):
                if value is not None:
                    values[key], origins[key] = value, f"--{key}"
            cfg = build_section(JkUartConfig, "jk_uart", values, origins)
        except ConfigError as exc:
            raise fail(str(exc), 2) from None
        # no cycle here: the longest period, so any configured timeout applies as it is
        ctx = PluginContext("jk_uart", MonotonicClock(), logging.getLogger("gateway.jk_uart"), period_s=10.0)
        source = JkUartSource(cfg, ctx)
        try:
            source.open()
            status = source.read_status()
        except SourceError as exc:
            raise fail(f"{type(exc).__name__}: {exc}") from None
        finally:
            source.close()
        if is_booting(status):
            typer.echo(
                "gateway jk_uart: warning: SOC 0 % with 0 cycles: the BMS may still be booting", err=True
            )
        if as_json:
            typer.echo(json.dumps(to_json(status, invert_current=cfg.invert_current), indent=2))
        else:
            typer.echo(render_table(status, invert_current=cfg.invert_current))

    @app.command("simulate")
    def simulate(
        cells: Annotated[int, typer.Option(min=3, max=32, help="cells in series")] = 16,
        soc: Annotated[float, typer.Option(min=0, max=100, help="initial SOC, %")] = 50.0,
        current: Annotated[float, typer.Option(help="pack current, A (+ = charging)")] = 0.0,
        capacity: Annotated[float, typer.Option(min=1, help="capacity, Ah")] = 280.0,
        temperature: Annotated[float, typer.Option(min=-40, max=99, help="ambient, °C")] = 25.0,
        drift: Annotated[bool, typer.Option(help="alternate charge and discharge")] = False,
        amplitude: Annotated[float, typer.Option(help="drift current, A")] = 20.0,
        period: Annotated[float, typer.Option(min=1, help="drift period, s")] = 120.0,
        old_firmware: Annotated[
            bool, typer.Option(help="reply like firmware NW_1_0_0 (no 0xB8..0xC0)")
        ] = False,
        speed: Annotated[float, typer.Option(min=0, help="simulated seconds per real second")] = 1.0,
        fault: Annotated[
            list[str] | None, typer.Option(help="inject a fault on every reply (repeatable)")
        ] = None,
        link: Annotated[Path | None, typer.Option(help="also create this symlink to the pty")] = None,
        duration: Annotated[float | None, typer.Option(min=0, help="stop after N seconds")] = None,
    ) -> None:
        """Serve a simulated JK BMS on a pseudo-terminal; prints its path, serves until stopped."""
        from .pty_server import PtyServer
        from .simulator import SimulatedBms

        try:
            sim = SimulatedBms(
                cells, soc, current, capacity, temperature, protocol_version=None if old_firmware else 1,
                drift=drift, drift_amplitude_a=amplitude, drift_period_s=period,
            )  # fmt: skip
            for name in fault or []:
                sim.inject(name)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
        server = PtyServer(sim, link=str(link) if link is not None else None, speed=speed, baud=BAUD)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            path = server.start()
            typer.echo(path)
            sys.stdout.flush()
            typer.echo(
                f"simulated {cells}-cell JK BMS on {server.slave_path} (115200 8N1); Ctrl-C stops", err=True
            )
            stop.wait(duration)
        finally:
            server.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    return app
