"""``gateway jk_pb decode|read|scan|simulate``: decode captured bytes, poll one pack, scan a line, simulate.

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

from .cellinfo import CellInfo

SECTION = "jk_pb"
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file whose \\[jk_pb] section is used")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override one key: jk_pb.key=value (repeatable)")
]
HEX_TEXT = re.compile(r"^[0-9A-Fa-fxX\s:,.\-]*$")


def parse_hex(text: str) -> bytes:
    """Hex text (spaces, colons, commas, dots and ``0x`` prefixes allowed) -> bytes. :raises ValueError:."""
    if not HEX_TEXT.match(text):
        bad = next(c for c in text if not HEX_TEXT.match(c))
        raise ValueError(f"not hex: unexpected {bad!r}")
    tokens = [t.removeprefix("0x").removeprefix("0X") for t in re.split(r"[\s:,.\-]+", text.strip()) if t]
    digits = "".join(tokens)
    if not digits:
        raise ValueError("no hex digits given")
    if len(digits) % 2:
        raise ValueError(f"odd number of hex digits ({len(digits)})")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ValueError("not hex: an 'x' inside a byte") from None


def read_stdin_text() -> str:
    """Stdin as text; binary input is refused with a ValueError, never a traceback."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("stdin holds non-text bytes; give the capture as hex") from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as one line on stderr; the caller raises the returned exit."""
    typer.echo(f"gateway jk_pb: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


def render_table(info: CellInfo, reading_limits: tuple[float, float] | None) -> str:
    """A human-readable summary of one cell-info record."""
    cells = info.cell_voltages_v
    current = info.current_a
    direction = "charging" if current > 0 else "discharging" if current < 0 else "idle"
    rows = [
        f"cells ({len(cells)})".ljust(15)
        + f"{min(cells):.3f} .. {max(cells):.3f} V (delta {max(cells) - min(cells):.3f} V)"
    ]
    for first in range(0, len(cells), 8):
        rows.append(
            " " * 15
            + "  ".join(f"{first + i + 1:>2}: {v:.3f}" for i, v in enumerate(cells[first : first + 8]))
        )
    probes = ", ".join(f"{t:g}" for t in info.battery_temperatures_c) or "none"
    on = {True: "on", False: "off", None: "-"}
    rows += [
        "pack".ljust(15)
        + f"{info.voltage_v:.3f} V, {current:+.3f} A ({direction}), {info.voltage_v * current:+.0f} W",
        "SOC".ljust(15) + f"{info.soc_pct} %, SOH {info.soh_pct} %, {info.remaining_capacity_ah:g} of "
        f"{info.capacity_ah:g} Ah, {info.cycle_count} cycles",
        "temperatures".ljust(15) + f"probes {probes} °C, MOSFET {info.mosfet_temperature_c} °C",
        "MOSFETs".ljust(15) + f"charge {on[info.charge_enabled]}, discharge {on[info.discharge_enabled]}, "
        f"balancing {on[info.balancing]}",
        "alarms".ljust(15) + (", ".join(info.alarms) or "none"),
    ]
    if reading_limits is not None:
        rows.append(
            "BMS limits".ljust(15) + f"charge {reading_limits[0]:g} A, discharge {reading_limits[1]:g} A"
        )
    if info.zero_voltage_cells:
        rows.append("WARNING".ljust(15) + f"cells reading 0 mV: {list(info.zero_voltage_cells)}")
    return "\n".join(rows)


def capture_json(data: bytes, layout: str) -> Any:
    """The decode JSON of the records in ``data`` (one object, or a list for several records)."""
    from .cellinfo import CellInfo
    from .decode import decode_capture
    from .jk04 import Jk04CellInfo
    from .reading import cell_info_json, device_info_json, jk04_json, settings_json
    from .settings import Settings

    capture = decode_capture(data, layout)
    settings = next((item.value for item in capture.items if isinstance(item.value, Settings)), None)
    rows = []
    for item in capture.items:
        value = item.value
        if isinstance(value, CellInfo):
            row = cell_info_json(value, settings)
        elif isinstance(value, Jk04CellInfo):
            row = jk04_json(value)
        elif isinstance(value, Settings):
            row = settings_json(value)
        else:
            row = device_info_json(value)
        if capture.skipped or item.address is not None:
            row["line"] = {"address": item.address, "skipped": list(capture.skipped)}
        rows.append(row)
    return rows[0] if len(rows) == 1 else rows


def build_cli() -> typer.Typer:
    """The ``gateway jk_pb`` command group."""
    app = typer.Typer(
        help="JK-PB RS485 (55 AA EB 90 records): decode, read a pack, scan a line, simulate.",
        no_args_is_help=True,
    )

    @app.command("decode")
    def decode(
        data_hex: Annotated[
            str, typer.Argument(metavar="HEX", help="a record or a captured poll as hex; '-' reads stdin")
        ],
        layout: Annotated[
            str,
            typer.Option(help="cell-info layout: auto, 24s, 32s or jk04 (auto: device info, else what fits)"),
        ] = "auto",
    ) -> None:
        """Decode the records in a capture and print them as JSON (exit 1 with the reason if invalid)."""
        from gateway_core.errors import FrameError

        if layout not in ("auto", "24s", "32s", "jk04"):
            raise fail(f"--layout {layout!r}: expected auto, 24s, 32s or jk04", 2)
        try:
            text = read_stdin_text() if data_hex == "-" else data_hex
            out = capture_json(parse_hex(text), layout)
        except ValueError as exc:
            raise fail(f"invalid input: {exc}") from None
        except FrameError as exc:
            reason = getattr(exc, "reason", "implausible")
            raise fail(f"invalid record ({reason}): {exc}") from None
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))

    @app.command("read")
    def read(
        port: Annotated[
            str | None, typer.Option(help="serial device or pyserial URL (default: config)")
        ] = None,
        address: Annotated[
            int | None, typer.Option(help="the pack's DIP address, 1-15 (default: config)")
        ] = None,
        timeout: Annotated[float | None, typer.Option(help="seconds to wait for each reply")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Poll one pack (device info, settings, cell info) and print what it reports."""
        from gateway_core.errors import SourceError

        from .reading import cell_info_json, device_info_json, settings_json

        source = _source(config, set_ or [], {"port": port, "address": address, "timeout": timeout})
        try:
            source.open()
            info = source.read_cell_info()
        except SourceError as exc:
            raise fail(f"{type(exc).__name__}: {exc}") from None
        finally:
            source.close()
        settings = source.settings
        if as_json:
            data = cell_info_json(info, settings)
            data["address"] = source.config.address
            if settings is not None:
                data["settings"] = settings_json(settings)
            if source.device is not None:
                data["device"] = device_info_json(source.device)
            typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
            return
        if source.device is not None:
            d = source.device
            typer.echo(
                "device".ljust(15)
                + f"{d.model}, hw {d.hardware_version}, sw {d.software_version}, serial {d.serial_number}"
            )
        limits = (
            None if settings is None else (settings.max_charge_current_a, settings.max_discharge_current_a)
        )
        typer.echo(render_table(info, limits))

    @app.command("scan")
    def scan(
        port: Annotated[
            str | None, typer.Option(help="serial device or pyserial URL (default: config)")
        ] = None,
        timeout: Annotated[
            float, typer.Option(min=0.05, max=2.0, help="seconds to wait at each address")
        ] = 0.25,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of lines")] = False,
        config: ConfigOption = None,
        set_: SetOption = None,
    ) -> None:
        """Ask addresses 1-15 for cell info and list those that answer."""
        from .scan import scan_line

        source = _source(config, set_ or [], {"port": port, "timeout": timeout})
        try:
            found = scan_line(source.config, logging.getLogger("gateway.jk_pb"))
        except Exception as exc:  # the port itself: one line, exit 1
            raise fail(f"{type(exc).__name__}: {exc}") from None
        if as_json:
            typer.echo(json.dumps(found, indent=2))
        for row in [] if as_json else found:
            typer.echo(f"address {row['address']:>2}: {row['summary']}")
        if not found:
            raise fail(f"no pack answered on {source.config.port} (addresses 1-15)")

    @app.command("simulate")
    def simulate(
        packs: Annotated[int, typer.Option(min=1, max=15, help="packs at addresses 1..N")] = 3,
        cells: Annotated[int, typer.Option(min=1, max=32, help="cells in series per pack")] = 16,
        soc: Annotated[float, typer.Option(min=0, max=100, help="initial SOC, %")] = 60.0,
        current: Annotated[float, typer.Option(help="current per pack, A (+ = charging)")] = 0.0,
        capacity: Annotated[float, typer.Option(min=1, help="capacity per pack, Ah")] = 280.0,
        temperature: Annotated[float, typer.Option(min=-40, max=99, help="probe temperature, °C")] = 20.0,
        layout: Annotated[str, typer.Option(help="record layout: 32s (PB) or 24s")] = "32s",
        drop: Annotated[
            list[int] | None, typer.Option(help="address of a pack that is off the line (repeatable)")
        ] = None,
        fault: Annotated[
            list[str] | None, typer.Option(help="inject a fault on every reply (repeatable)")
        ] = None,
        baud: Annotated[int, typer.Option(help="pace replies at this line speed")] = 115200,
        speed: Annotated[float, typer.Option(min=0, help="simulated seconds per real second")] = 1.0,
        link: Annotated[Path | None, typer.Option(help="also create this symlink to the pty")] = None,
        duration: Annotated[float | None, typer.Option(min=0, help="stop after N seconds")] = None,
    ) -> None:
        """Serve a simulated JK-PB line (packs at addresses 1..N) on a pty; prints its path."""
        from gateway_core.ptysim import PtyServer

        from .simulator import SimulatedLine

        try:
            line = SimulatedLine(
                tuple(range(1, packs + 1)), cells, soc, current, capacity, temperature, layout=layout
            )
            for address in drop or []:
                line.drop(address)
            for name in fault or []:
                line.inject(name)
        except (ValueError, KeyError) as exc:
            raise fail(f"cannot simulate: {exc}", 2) from None
        server = PtyServer(line, link=str(link) if link is not None else None, speed=speed, baud=baud)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            path = server.start()
            typer.echo(path)
            sys.stdout.flush()
            typer.echo(
                f"simulated JK-PB line, packs at 1..{packs}, on {server.slave_path} ({baud} 8N1); "
                "Ctrl-C stops",
                err=True,
            )
            stop.wait(duration)
        finally:
            server.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    return app


def _source(config: Path | None, overrides: list[str], options: dict[str, Any]) -> Any:
    """A jk_pb source from the config's ``[jk_pb]`` section and the command's options."""
    from gateway_core.clock import MonotonicClock
    from gateway_core.config import load_raw
    from gateway_core.errors import ConfigError
    from gateway_core.roles import PluginContext
    from gateway_core.settings import build_section

    from .config import JkPbConfig
    from .source import JkPbSource

    try:
        raw, _ = load_raw(config, overrides)
        values: dict[str, Any] = dict(raw.values.get(SECTION, {}))
        origins = dict(raw.origins.get(SECTION, {}))
        for key, value in options.items():
            if value is not None:
                values[key], origins[key] = value, f"--{key}"
        cfg = build_section(JkPbConfig, SECTION, values, origins)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    # a command has the line to itself: a long period gives every poll its full timeout
    ctx = PluginContext(
        SECTION, MonotonicClock(), logging.getLogger("gateway.jk_pb"), plugin=SECTION, period_s=10.0
    )
    return JkPbSource(cfg, ctx)
