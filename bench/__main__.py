"""``python -m bench``: measure battery-gateway and print (or save as JSON) every figure with its spread.

Sections (``--only decode,cycle,...``): decode (JK parse + decode), cycle (CPU of one engine cycle,
in-process), loop (CPU per 1,000 cycles of the in-process loop at its real period), process
(``gateway run`` as a process: start to first frame on each interface, peak RSS), cpu (``gateway
run`` over ptys: CPU per cycle, latency from the BMS reply to the set's last frame and peak RSS, for
one pack with and without the frame gap, USB-like reply packets, and banks of 4 and 8 packs),
io (CPU of each I/O step of a cycle alone: a sleep, a thread handoff, a JK exchange, an slcan
send), observers (prometheus metrics update), floor (UART and CAN wire times). Never part of the test run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .stats import Summary, exact, machine, summarize

SECTIONS = ("decode", "cycle", "loop", "process", "cpu", "io", "observers", "floor")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs per figure (default 15)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and loop cycles (a smoke run)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write machine and figures as JSON")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of: {', '.join(SECTIONS)}")
    parser.add_argument("--loop-cycles", type=int, default=60, help="cycles of the real loop (default 60)")
    parser.add_argument("--loop-period", type=float, default=1.0, help="its period in s (default 1.0)")
    parser.add_argument(
        "--cpu-cycles",
        type=int,
        default=1000,
        help="cycles of `gateway run` per cpu configuration (default 1000)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if args.quick:
        args.repeats = min(args.repeats, 5)
        args.loop_cycles = min(args.loop_cycles, 20)
        args.cpu_cycles = min(args.cpu_cycles, 50)
    return args


def decode_figures(repeats: int) -> list[Summary]:
    """JK parse + decode per frame, 16 and 32 cells."""
    from .jk_decode import bench_parse_decode

    return [
        summarize(f"JK parse + decode, {cells} cells", "us", bench_parse_decode(cells, repeats))
        for cells in (16, 32)
    ]


def cycle_figures(repeats: int) -> list[Summary]:
    """One engine cycle, without and with the sink's default frame spacing."""
    from .cycle import bench_engine_cycle

    quick = max(3, repeats // 3)
    return [
        summarize(
            "engine cycle CPU: jksim -> ladder -> pylontech/virtual",
            "us",
            bench_engine_cycle(repeats),
            "frame_gap_s=0",
        ),
        summarize(
            "engine cycle CPU, default frame spacing (5 x 2 ms)",
            "us",
            bench_engine_cycle(quick, 50, 0.002),
            "frame_gap_s=0.002",
        ),
    ]


def loop_figures(cycles: int, period_s: float) -> list[Summary]:
    """CPU seconds per 1,000 cycles of the real threaded loop at its real period."""
    from .cycle import bench_loop_cpu

    block = max(2, cycles // 10)
    samples = bench_loop_cpu(cycles, period_s, block)
    return [
        summarize(
            f"real loop CPU per 1,000 cycles at {period_s:g} s",
            "s",
            samples,
            f"{cycles} cycles, blocks of {block}; = % CPU x {period_s * 10:g}",
        )
    ]


def process_figures(repeats: int) -> list[Summary]:
    """Start to the first frame on each interface, peak RSS, and the bare import floor."""
    from .process import Setup, bench_import_time, run

    n = max(3, repeats // 3)
    slcan = [run(Setup()) for _ in range(n)]
    udp = [run(Setup(interface="udp_multicast")) for _ in range(n)]
    imports = bench_import_time(n)
    return [
        summarize(
            "start to first frame: slcan (pty, CANable protocol)",
            "ms",
            [1e3 * r.startup_s for r in slcan],
            "default slcan_open_wait_s = 0.1",
        ),
        summarize("start to first frame: udp_multicast", "ms", [1e3 * r.startup_s for r in udp]),
        summarize("  floor: python -c 'import gateway_core.cli'", "ms", [1e3 * t for t in imports]),
        summarize("peak RSS of the running gateway (VmHWM), slcan", "MiB", [r.peak_rss_mib for r in slcan]),
    ]


def cpu_figures(cycles: int) -> list[Summary]:
    """CPU per cycle (whole process and main thread), latency and peak RSS of ``gateway run``."""
    from .process import Setup, run

    setups = (
        ("1 pack", Setup()),
        ("1 pack, frame_gap_s=0", Setup(frame_gap_s=0.0)),
        ("1 pack, reply in 32-byte packets", Setup(chunk_bytes=32)),
        ("bank of 4 packs", Setup(packs=4)),
        ("bank of 8 packs", Setup(packs=8)),
    )
    figures = []
    for label, setup in setups:
        result = run(setup, cycles=cycles, blocks=10)
        note = f"{cycles} cycles at {setup.period_s:g} s, 10 blocks"
        figures += [
            summarize(f"CPU per cycle, process: {label}", "ms", result.cpu_ms, note),
            summarize(f"  of it the main (publishing) thread: {label}", "ms", result.main_cpu_ms),
            summarize(f"latency BMS reply -> last frame: {label}", "ms", result.latency_ms),
            exact(f"peak RSS: {label}", "MiB", result.peak_rss_mib),
        ]
    return figures


def io_figures(repeats: int) -> list[Summary]:
    """CPU per I/O step of a cycle, each alone (the floor under the process figure)."""
    from . import io_cost

    steps = (
        ("frame gap: time.sleep(0.002)", io_cost.sleep_wake, "5 per cycle with the default gap"),
        ("lane handoff: job to a thread and back", io_cost.thread_handoff, "1 per pack per cycle"),
        ("JK exchange on a pty: 21 B out, 299 B in", io_cost.jk_exchange, "1 per pack per cycle"),
        ("slcan send of one frame (+ 1/6 of the drain)", io_cost.slcan_send, "6 per cycle"),
    )
    figures = [
        summarize(f"CPU of {name}", "us", [step() for _ in range(repeats)], note)
        for name, step, note in steps
    ]
    runs = max(3, repeats // 3)
    warm = [io_cost.ladder_decide(0.0, 300) for _ in range(runs)]
    cold = [io_cost.ladder_decide(0.2) for _ in range(runs)]
    return [
        *figures,
        summarize("CPU of a ladder decision, back to back (caches warm)", "us", warm),
        summarize("CPU of a ladder decision 0.2 s after the last (cold)", "us", cold, "as in each cycle"),
    ]


def observer_figures(repeats: int) -> list[Summary]:
    """The prometheus observer's per-cycle cost (off the control loop, on its own thread)."""
    try:
        from .metrics_update import bench_metrics_update
    except ImportError as exc:  # the observer plugin is optional
        return [exact("prometheus metrics update", "us", float("nan"), f"not measured: {exc}")]
    return [
        summarize(
            "prometheus metrics update per cycle (observer thread)", "us", bench_metrics_update(repeats)
        )
    ]


def floor_figures_now() -> list[Summary]:
    """Wire times, with the CAN set counted bit-exactly from the frames the sink really builds."""
    from .floor import floor_figures

    frames = None
    try:
        from gateway_core.model import LimitFlag, Limits
        from pylontech_can.config import PylontechConfig
        from pylontech_can.frames import FrameBuilder

        from .metrics_update import sample_result

        reading = sample_result().reading
        limits = Limits(50.0, 60.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("bench",))
        frames = [(f.arbitration_id, f.data) for f in FrameBuilder(PylontechConfig()).build(reading, limits)]
    except ImportError:
        pass
    wire = floor_figures(frames)
    return [
        exact(
            "floor: UART request + reply, 16 cells @115200 8N1",
            "ms",
            wire["uart_16_cells_ms"],
            "21 + 291 bytes",
        ),
        exact(
            "floor: UART request + reply, 32 cells @115200 8N1",
            "ms",
            wire["uart_32_cells_ms"],
            "21 + 339 bytes",
        ),
        exact(
            "floor: CAN frame set @500 kbit/s (exact stuffing)",
            "ms",
            wire["can_set_ms"],
            f"{wire['can_set_bits']:.0f} bits, 6 frames",
        ),
        exact("floor: CAN frame set, worst-case stuffing", "ms", wire["can_set_worst_ms"]),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, print a table, optionally write JSON."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    chosen = args.only.split(",")
    info = machine()
    print(
        f"battery-gateway benchmarks — {info['cpu_model']}, {info['cores']} cores "
        f"({info['usable_cores']} usable), {info['python']}, {info['platform']}"
    )
    runners: dict[str, Callable[[], list[Summary]]] = {
        "decode": lambda: decode_figures(args.repeats),
        "cycle": lambda: cycle_figures(args.repeats),
        "loop": lambda: loop_figures(args.loop_cycles, args.loop_period),
        "process": lambda: process_figures(args.repeats),
        "cpu": lambda: cpu_figures(args.cpu_cycles),
        "io": lambda: io_figures(args.repeats),
        "observers": lambda: observer_figures(args.repeats),
        "floor": floor_figures_now,
    }
    figures: list[Summary] = []
    started = time.perf_counter()
    for section in SECTIONS:
        if section not in chosen:
            continue
        for summary in runners[section]():
            figures.append(summary)
            print(summary.line(), flush=True)
    took = time.perf_counter() - started
    print(f"({took:.0f} s; median, interquartile range, min and max over n runs)")
    if args.json is not None:
        document: dict[str, Any] = {
            "machine": info,
            "options": {
                "repeats": args.repeats,
                "loop_cycles": args.loop_cycles,
                "loop_period_s": args.loop_period,
                "cpu_cycles": args.cpu_cycles,
                "sections": chosen,
            },
            "figures": [summary.as_dict() for summary in figures],
            "seconds": round(took, 1),
        }
        args.json.write_text(json.dumps(document, indent=2, default=_json_default) + "\n")
        print(f"wrote {args.json}")
    return 0


def _json_default(value: object) -> object:
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
