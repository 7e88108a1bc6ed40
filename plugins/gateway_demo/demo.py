"""``gateway demo``: the real engine between a simulated JK BMS and a virtual CAN bus, with a pretend
inverter on the same bus showing what it decodes, refreshed every cycle.

Wiring: the ``jk_uart`` source reads ``jksim://`` (the simulator behind pyserial's URL handlers), the
``limit_ladder`` policy decides, the ``pylontech`` sink sends on python-can's ``virtual`` bus. A second
bus on that channel plays the inverter: it decodes each frame set, answers with 0x305, and sets the
simulator's current within the limits it received, so the pack charges and discharges and the limits
move. ``--fault`` makes the simulated BMS misbehave for a while so the fail-safe shows, then recover.

No ``from __future__ import annotations`` here: typer reads the annotations at run time. The plugins
(``jk_uart``, ``pylontech_can``) and python-can are imported inside the functions.
"""

import collections
import itertools
import logging
import os
import shutil
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pluggy
import typer

from gateway_core.clock import MonotonicClock
from gateway_core.errors import StartupError
from gateway_core.model import CycleResult
from gateway_core.runner import build_gateway, run_gateway
from gateway_core.sdnotify import SdNotifier

from .view import PretendInverter, render, screen

#: Faults the demo can inject: the simulator's reply faults, and pulling the adapter out.
DEMO_FAULTS = (
    "silence",
    "garbage",
    "bad_checksum",
    "nonsense",
    "split",
    "trickle",
    "noise",
    "echo",
    "unplug",
)
HEARTBEAT_ID = 0x305
_names = itertools.count(1)


@dataclass(frozen=True)
class DemoOptions:
    """What ``gateway demo`` was asked for."""

    cycles: int | None = None
    period_s: float = 1.0
    speed: float = 200.0
    cells: int = 16
    capacity_ah: float = 100.0
    soc_pct: float = 60.0
    charge_a: float = 50.0
    discharge_a: float = 40.0
    fault: str | None = None
    fault_at: int = 10
    fault_cycles: int = 10
    config: Path | None = None
    overrides: tuple[str, ...] = ()
    packs: int = 1
    fault_pack: int = 1
    web: str = ""
    meter_port: int = 0


@dataclass
class DemoRun:
    """What a demo run showed: every cycle's result and the frames the inverter had then."""

    channel: str
    results: list[CycleResult] = field(default_factory=list)
    frames: list[dict[int, tuple[bytes, float]]] = field(default_factory=list)
    final_frames: dict[int, bytes] = field(default_factory=dict)
    exit_code: int = 0


def pack_soc(opts: DemoOptions, index: int) -> float:
    """Each simulated pack starts a little apart, so the bank has a weakest pack to show."""
    return max(0.0, min(100.0, opts.soc_pct + 4.0 * index))


def sim_name(name: str, index: int) -> str:
    """The shared simulator name of pack ``index`` (0-based)."""
    return name if index == 0 else f"{name}-pack{index + 1}"


def demo_overrides(opts: DemoOptions, name: str) -> list[str]:
    """The ``--set`` lines that wire simulators, policy and virtual bus (the user's own come last)."""
    timeout = f"{max(0.05, min(0.5, opts.period_s / 2))!r}"
    sources: list[str] = []
    for index in range(opts.packs):
        url = f"jksim://?cells={opts.cells}&capacity={opts.capacity_ah:g}&soc={pack_soc(opts, index):g}"
        url += f"&speed={opts.speed:g}&name={sim_name(name, index)}&seed={index + 1}"
        if opts.packs == 1:
            sources += ['gateway.source="jk_uart"', f'jk_uart.port="{url}"', f"jk_uart.timeout={timeout}"]
        else:
            pack = f"pack{index + 1}"
            sources += [f'{pack}.plugin="jk_uart"', f'{pack}.port="{url}"', f"{pack}.timeout={timeout}"]
    if opts.packs > 1:
        listed = ", ".join(f'"pack{i + 1}"' for i in range(opts.packs))
        sources.append(f"gateway.sources=[{listed}]")
    observers = ['gateway.observers=["web"]', f'web.listen="{opts.web}"'] if opts.web else []
    if opts.meter_port:  # a simulated SMA Energy Meter on loopback, and the policy watching it
        observers += [
            'gateway.meter="sma_em"',
            'sma_em.group=""',
            f'sma_em.listen="127.0.0.1:{opts.meter_port}"',
            'limit_ladder.oscillation_input="grid_power"',
        ]
    return [
        *sources,
        'gateway.policy="limit_ladder"',
        'gateway.sink="pylontech"',
        "gateway.observers=[]",
        *observers,
        f"gateway.period={opts.period_s!r}",
        'pylontech.interface="virtual"',
        f'pylontech.channel="{name}"',
        # The ladder's 45 min wait before charging rises again, in simulated time.
        f"limit_ladder.charge_hold_s={2700.0 / max(opts.speed, 1.0)!r}",
        *opts.overrides,
    ]


class EventLog(logging.Handler):
    """Keeps the last warnings (fail-safe engaged/released, links lost) for the view."""

    def __init__(self, size: int = 6) -> None:
        super().__init__(logging.WARNING)
        self.lines: deque[str] = deque(maxlen=size)
        self.cycle = 1

    def emit(self, record: logging.LogRecord) -> None:
        """Remember one record as ``cycle N: message``."""
        self.lines.append(f"cycle {self.cycle}: {record.getMessage()}")


@contextmanager
def _captured_logs(events: EventLog) -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [events]
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def run_demo(
    pm: pluggy.PluginManager, opts: DemoOptions, out: Callable[[str], None], *, tty: bool
) -> DemoRun:
    """Run the demo until ``opts.cycles`` have run or SIGINT/SIGTERM; print the view each cycle.

    :raises StartupError: a bad ``--set`` or config, as for ``gateway run``.
    """
    import can

    from jk_uart.simulator import forget_simulator, get_simulator

    name = f"demo-{os.getpid()}-{next(_names)}"
    sims = [
        get_simulator(
            sim_name(name, index),
            cells=opts.cells,
            capacity_ah=opts.capacity_ah,
            soc_pct=pack_soc(opts, index),
            seed=index + 1,
        )
        for index in range(opts.packs)
    ]
    sim = sims[min(max(opts.fault_pack, 1), opts.packs) - 1]  # the pack --fault hits
    clock = MonotonicClock()
    inverter = PretendInverter(charge_a=opts.charge_a, discharge_a=opts.discharge_a)
    frames: dict[int, tuple[bytes, float]] = {}
    run = DemoRun(channel=name)
    events = EventLog()
    packs = f"{opts.packs} JK sims" if opts.packs > 1 else "JK sim"
    title = f"battery-gateway demo: {packs} -> limit_ladder -> Pylontech CAN"
    listener = can.Bus(interface="virtual", channel=name, receive_own_messages=False)

    hold_s = 2700.0 / max(opts.speed, 1.0)
    clock_note = f"battery time runs {opts.speed:g}x: the 45 min re-rise hold takes {hold_s:.1f} s here" + (
        "" if opts.cycles else "; Ctrl-C stops (stop limits go out once)"
    )
    dropped: collections.Counter[str] = collections.Counter()
    gateway_box: list[Any] = []

    def parser_note() -> str:
        if not gateway_box:
            return ""
        for source in gateway_box[0].engine.sources:
            for rejection in getattr(source, "rejections", ()):
                dropped[rejection.reason] += rejection.dropped
        if not dropped:
            return "nothing dropped"
        parts = ", ".join(f"{reason} {count} B" for reason, count in dropped.most_common(3))
        return f"dropped {parts}, read on"

    def fault_notes(cycle: int) -> list[str]:
        if opts.fault is None:
            return [clock_note]
        last = opts.fault_at + opts.fault_cycles - 1
        state = "ACTIVE" if opts.fault_at <= cycle <= last else ("over" if cycle > last else "scheduled")
        where = f" on pack{opts.fault_pack}" if opts.packs > 1 else ""
        return [clock_note, f"fault: {opts.fault}{where} from cycle {opts.fault_at} to {last} ({state})"]

    def steer_fault(cycle: int) -> None:
        if opts.fault is None:
            return
        if cycle == opts.fault_at:
            sim.unplug() if opts.fault == "unplug" else sim.inject(opts.fault)
        elif cycle == opts.fault_at + opts.fault_cycles:
            sim.plug() if opts.fault == "unplug" else sim.clear_faults()

    def on_cycle(result: CycleResult) -> None:
        while (message := listener.recv(0)) is not None:
            frames[message.arbitration_id] = (bytes(message.data), clock.now())
            if message.arbitration_id == 0x356:  # as a Deye does: answer each 0x356
                listener.send(can.Message(arbitration_id=HEARTBEAT_ID, data=bytes(8), is_extended_id=False))
                frames[HEARTBEAT_ID] = (bytes(8), clock.now())
        now = clock.now()
        amps = inverter.update(frames, now)
        for each in sims:
            each.set_current(amps / len(sims))  # packs in parallel share the inverter's current
        events.cycle = result.cycle + 1
        run.results.append(result)
        run.frames.append(dict(frames))
        lines = render(
            title=title,
            result=result,
            frames=frames,
            now_s=now,
            inverter=inverter,
            notes=fault_notes(result.cycle),
            events=list(events.lines),
            parser=parser_note(),
        )
        size = shutil.get_terminal_size()
        out(screen(lines, tty=tty, width=size.columns, height=size.lines))
        steer_fault(result.cycle + 1)

    sender = None
    if opts.meter_port:
        from sma_em.simulate import OscillatingPair, UnicastSender

        pair = OscillatingPair(amplitude_w=600.0, swing_s=3.0 * opts.period_s, step_s=opts.period_s)
        sender = UnicastSender(("127.0.0.1", opts.meter_port), pair, period_s=opts.period_s).start()
    try:
        with _captured_logs(events):
            steer_fault(1)
            gateway = build_gateway(
                pm,
                config_path=opts.config or Path(os.devnull),
                overrides=demo_overrides(opts, name),
                clock=clock,
                max_cycles=opts.cycles,
                sd_notify=SdNotifier(""),
                on_cycle=on_cycle,
            )
            gateway_box.append(gateway)
            with _signals_restored():
                run.exit_code = run_gateway(
                    gateway, install_signals=threading.current_thread() is threading.main_thread()
                )
        while (message := listener.recv(0)) is not None:
            run.final_frames[message.arbitration_id] = bytes(message.data)
    finally:
        if sender is not None:
            sender.stop()
        listener.shutdown()
        for index in range(opts.packs):
            forget_simulator(sim_name(name, index))
    out(_goodbye(run))
    return run


@contextmanager
def _signals_restored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _goodbye(run: DemoRun) -> str:
    from pylontech_can.monitor import summarize

    lines = [f"stopped after {len(run.results)} cycles; on the way out the gateway sent stop limits once:"]
    for arbitration_id in (0x351, 0x35C):
        if arbitration_id in run.final_frames:
            data = run.final_frames[arbitration_id]
            lines.append(
                f"  0x{arbitration_id:03X}  {data.hex(' ').upper():<23}  {summarize(arbitration_id, data)}"
            )
    return "\n".join(lines) + "\n"


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing uses now (for the simulated meter's datagrams)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_demo_command(app: typer.Typer) -> None:
    """Add ``gateway demo`` to ``app``; it runs the installed jk_uart, limit_ladder and pylontech plugins."""

    @app.command()
    def demo(
        cycles: Annotated[
            int | None, typer.Option(min=1, help="stop after N cycles (scripts, tests)")
        ] = None,
        period: Annotated[float, typer.Option(min=0.05, max=10.0, help="seconds per cycle")] = 1.0,
        speed: Annotated[
            float, typer.Option(min=0.0, max=100000.0, help="simulated battery seconds per real second")
        ] = 200.0,
        cells: Annotated[int, typer.Option(min=3, max=32, help="cells in series")] = 16,
        capacity: Annotated[float, typer.Option(min=1.0, help="pack capacity, Ah")] = 100.0,
        soc: Annotated[
            float, typer.Option(min=0.0, max=100.0, help="state of charge at the start, %")
        ] = 60.0,
        charge: Annotated[
            float, typer.Option(min=0.0, help="current the inverter wants to charge with, A")
        ] = 50.0,
        discharge: Annotated[
            float, typer.Option(min=0.0, help="current the inverter wants to draw, A")
        ] = 40.0,
        fault: Annotated[
            str | None, typer.Option(help=f"make the BMS misbehave: {', '.join(DEMO_FAULTS)}")
        ] = None,
        fault_at: Annotated[int, typer.Option(min=1, help="cycle the fault starts")] = 10,
        fault_cycles: Annotated[int, typer.Option(min=1, help="cycles the fault lasts")] = 10,
        packs: Annotated[int, typer.Option(min=1, max=8, help="simulated packs in parallel (a bank)")] = 1,
        fault_pack: Annotated[int, typer.Option(min=1, help="the pack --fault hits (1 = the first)")] = 1,
        web: Annotated[
            bool, typer.Option("--web", help="serve the web page on the demo's data (needs the web plugin)")
        ] = False,
        web_listen: Annotated[str, typer.Option(help="address:port of --web's page")] = "127.0.0.1:8080",
        meter: Annotated[
            bool,
            typer.Option("--meter", help="simulate an SMA Energy Meter seeing two inverters push each other"),
        ] = False,
        plain: Annotated[bool, typer.Option("--plain", help="append plain text even on a terminal")] = False,
        config: Annotated[
            Path | None, typer.Option("--config", "-c", help="TOML config (default: none)")
        ] = None,
        set_: Annotated[
            list[str] | None, typer.Option("--set", "-s", help="override one key: section.key=value")
        ] = None,
    ) -> None:
        """Watch the gateway work: simulated JK BMS, real engine, pretend inverter on a virtual CAN bus."""
        if fault is not None and fault not in DEMO_FAULTS:
            typer.echo(f"gateway: error: --fault {fault!r}; accepted: {', '.join(DEMO_FAULTS)}", err=True)
            raise typer.Exit(2)
        opts = DemoOptions(
            cycles,
            period,
            speed,
            cells,
            capacity,
            soc,
            charge,
            discharge,
            fault,
            fault_at,
            fault_cycles,
            config,
            tuple(set_ or ()),
            packs,
            min(fault_pack, packs),
            web_listen if web else "",
            free_udp_port() if meter else 0,
        )
        tty = sys.stdout.isatty() and not plain

        def out(text: str) -> None:
            typer.echo(text, nl=False)

        from gateway_core.plugins import make_plugin_manager

        if web:
            out(f"the page: http://{web_listen}/ (Ctrl-C stops the demo)\n")
        try:
            run = run_demo(make_plugin_manager(), opts, out, tty=tty)
        except StartupError as exc:
            typer.echo(f"gateway: error: {exc}", err=True)
            raise typer.Exit(2) from None
        raise typer.Exit(run.exit_code)
