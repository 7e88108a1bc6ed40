"""The scenario script that runs inside the VM, as root, on the real kernel CAN stack.

Not a test module: ``tests/kernel/vm.py`` boots one VM with ``python -m tests.kernel.guest OUTDIR``
and the host tests assert on what it leaves in OUTDIR (a directory shared with the host):

- ``events.jsonl``: one JSON object per step (``event``, ``t`` = ``time.time()``, details; steps that
  touch the gateway carry ``log_offset``, the length of its log at that moment);
- ``candump.log``: ``candump -L any`` over the whole run (a real, independent client; it also sees
  each frame the kernel accepted on ``slcan0``, at the moment it accepted it);
- ``gateway.log``: the gateway's stderr at ``--log-level debug`` (every reopen and its backoff);
- ``adapter.jsonl``: every frame the fake CANable on slcand's pty received, with its arrival time.

One gateway process with two ``pylontech`` sinks, ``vcan`` on ``vcan0`` and ``slcan`` on ``slcan0``
(the kernel ``slcan`` driver, attached by ``slcand`` to the fake adapter's pty), runs every
scenario in turn: steady frames; ``ip link set vcan0 down``/``up``; ``ip link del vcan0`` and
re-create it; the adapter stalls and slcan0's small queue fills; SIGTERM. Each outage lasts until the
sink has logged its reopen attempts 1, 2 and 4 s apart. A failed wait is recorded as a ``timeout``
event and the script goes on, so one broken scenario does not hide the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.kernel import canlog
from tests.support.slcan import SlcanAdapter

#: The simulated JK BMS the gateway reads; the host computes the same reading natively.
BMS_URL = "jksim://?cells=16&soc=60&current=-10"
#: Transmit queue of slcan0 (frames the kernel holds above the driver while the adapter stalls).
SLCAN_TXQUEUELEN = 3
#: Bounds of the waits (real time in the VM, where Python runs tens of times slower than native).
START_WAIT_S = 240.0
STEP_WAIT_S = 60.0
#: How often a wait looks again (each look reads the logs: under emulation, CPU the gateway needs).
POLL_S = 0.2
#: An outage ends once the sink has logged this backoff (its attempts came 1, then 2 s apart).
LAST_BACKOFF = "next try in 4 s"
GATEWAY_TOML = f"""\
[gateway]
source = "jk_uart"
sinks = ["vcan", "slcan"]

[jk_uart]
port = "{BMS_URL}"

[vcan]
plugin = "pylontech"
interface = "socketcan"
channel = "vcan0"

[slcan]
plugin = "pylontech"
interface = "socketcan"
channel = "slcan0"
"""


def lost(sink: str) -> str:
    """The engine's warning when sink ``sink`` fails (once per outage)."""
    return f"sink '{sink}' lost:"


def still_down(sink: str) -> str:
    """The engine's debug line for each failed reopen attempt of sink ``sink``."""
    return f"sink '{sink}' still down:"


def back(sink: str) -> str:
    """The engine's warning when sink ``sink`` works again (once per outage)."""
    return f"sink '{sink}' is back"


class Run:
    """The output directory: events, the candump log, and waits that record their own timeouts."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.candump = outdir / "candump.log"
        self._events = (outdir / "events.jsonl").open("a", encoding="utf-8")

    def event(self, step: str, /, **fields: Any) -> float:
        """Record a step; returns its time."""
        now = time.time()
        self._events.write(json.dumps({"event": step, "t": now, **fields}) + "\n")
        self._events.flush()
        return now

    def wait(self, what: str, predicate: Callable[[], bool], timeout_s: float = STEP_WAIT_S) -> bool:
        """Poll ``predicate`` until true; a timeout is recorded (never raised) and returns False."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                self.event("timeout", what=what)
                return False
            time.sleep(POLL_S)
        return True

    def frames(self, interface: str, arbitration_id: int, since_s: float) -> list[canlog.Frame]:
        """What candump saw so far on ``interface`` since ``since_s``."""
        seen = canlog.read_candump(self.candump)
        return canlog.between(canlog.on(seen, interface, arbitration_id), since_s)

    def sh(self, *argv: str) -> str:
        """Run a command; its output and exit status go to the events."""
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        output = (done.stdout + done.stderr)[-2000:]
        self.event("command", argv=list(argv), rc=done.returncode, output=output)
        return done.stdout


class Gateway:
    """``gateway run`` with both sinks; its stderr (``--log-level debug``) in ``gateway.log``.

    One process for every scenario: a Python start costs tens of seconds under emulation.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.log = run.outdir / "gateway.log"
        config = run.outdir / "gateway.toml"
        config.write_text(GATEWAY_TOML, encoding="ascii")
        exe = Path(sys.executable).with_name("gateway")
        argv = [str(exe), "run", "--config", str(config), "--log-level", "debug"]
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        self.started_s = run.event("gateway_start", argv=argv)
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)

    def offset(self) -> int:
        """Bytes of log written so far."""
        return self.log.stat().st_size

    def logged(self, since: int, *texts: str) -> bool:
        """Whether one line after byte ``since`` holds every one of ``texts``."""
        tail = self.log.read_bytes()[since:].decode("utf-8", "replace")
        return any(all(text in line for text in texts) for line in tail.splitlines())

    def terminate(self) -> None:
        """SIGTERM, then wait for the exit (recorded with its status)."""
        self.run.event("sigterm", log_offset=self.offset())
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STEP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            self.run.event("timeout", what="sigterm: the gateway exits")
        time.sleep(1.0)  # candump and the adapter take in the last frames
        self.run.event("gateway_exit", rc=rc, log_offset=self.offset())


def outage(run: Run, gw: Gateway, name: str, cut: list[str], mend: list[list[str]]) -> None:
    """Take vcan0 away until the sink has backed off to 4 s, bring it back, see frames resume."""
    start = gw.offset()
    run.event(f"{name}_cut", log_offset=start)
    run.sh(*cut)
    run.wait(f"{name}: the sink backs off", lambda: gw.logged(start, still_down("vcan"), LAST_BACKOFF))
    back_from = gw.offset()
    mended = run.event(f"{name}_mend", log_offset=back_from)
    for argv in mend:
        run.sh(*argv)
    run.wait(
        f"{name}: frames resume on vcan0",
        lambda: gw.logged(back_from, back("vcan")) and len(run.frames("vcan0", 0x351, mended)) >= 3,
    )
    run.event(f"{name}_done", log_offset=gw.offset())


def start_slcan(run: Run, adapter: SlcanAdapter) -> subprocess.Popen[bytes]:
    """slcand on the adapter's pty (it sends C, S6, O as to a CANable), then slcan0 up."""
    slcand = subprocess.Popen(["slcand", "-o", "-c", "-s6", "-F", adapter.port, "slcan0"])
    if run.wait("slcan: slcand creates slcan0", lambda: Path("/sys/class/net/slcan0").exists()):
        run.sh("ip", "link", "set", "slcan0", "txqueuelen", str(SLCAN_TXQUEUELEN))
        run.sh("ip", "link", "set", "slcan0", "up")
        run.sh("tc", "qdisc", "show", "dev", "slcan0")
    run.event("slcan_ready", commands=list(adapter.commands))
    return slcand


def stall(run: Run, gw: Gateway, adapter: SlcanAdapter) -> None:
    """The adapter stops reading just after a complete set; later it reads again.

    ``jam()`` fills the pty (the adapter's buffer), so the slcan driver holds the next frame, the
    stack one more for a retry, slcan0's queue ``SLCAN_TXQUEUELEN``: then the set's next frame gets
    ENOBUFS.
    """
    sets = len(adapter.sent(0x35E))
    run.wait("stall: a set completes", lambda: len(adapter.sent(0x35E)) > sets)
    start = gw.offset()
    adapter.jam()
    run.event("jam", log_offset=start)
    run.wait("stall: the sink backs off", lambda: gw.logged(start, still_down("slcan"), LAST_BACKOFF))
    run.sh("tc", "-s", "qdisc", "show", "dev", "slcan0")
    back_from = gw.offset()
    adapter.unjam()
    unjammed = run.event("unjam", log_offset=back_from)
    run.wait(
        "stall: frames resume at the adapter",
        lambda: gw.logged(back_from, back("slcan")) and len(run.frames("slcan0", 0x351, unjammed)) >= 3,
    )
    time.sleep(0.5)  # the adapter reads the last set
    run.event("stall_done", log_offset=gw.offset())


def scenarios(run: Run) -> None:
    """Every scenario, in order, on one gateway process."""
    adapter = SlcanAdapter(clock=time.time)
    run.event("adapter", port=adapter.port)
    slcand = start_slcan(run, adapter)
    try:
        gw = Gateway(run)
        run.wait(
            "steady: frames on vcan0 and at the adapter",
            lambda: len(run.frames("vcan0", 0x351, gw.started_s)) >= 6 and len(adapter.sent(0x351)) >= 6,
            START_WAIT_S,
        )
        run.event("steady_done", log_offset=gw.offset())
        outage(
            run, gw, "down", ["ip", "link", "set", "vcan0", "down"], [["ip", "link", "set", "vcan0", "up"]]
        )
        recreate = [["ip", "link", "add", "vcan0", "type", "vcan"], ["ip", "link", "set", "vcan0", "up"]]
        outage(run, gw, "delete", ["ip", "link", "del", "vcan0"], recreate)
        stall(run, gw, adapter)
        gw.terminate()
    finally:
        record = [canlog.Frame(f.at_s, "adapter", f.arbitration_id, f.data) for f in adapter.sent()]
        canlog.write_frames(run.outdir / "adapter.jsonl", record)
        slcand.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            slcand.wait(timeout=10)
        adapter.close()


def uptime_s() -> float:
    """Seconds since the guest kernel booted."""
    return float(Path("/proc/uptime").read_text().split()[0])


def main(outdir: Path) -> int:
    """Set up the kernel side, run every scenario, always write ``done``."""
    run = Run(outdir)
    run.event("guest_start", uptime_s=uptime_s(), kernel=os.uname().release)
    for module in ("vcan", "can_raw", "slcan"):
        run.sh("modprobe", module)
    run.sh("ip", "link", "add", "vcan0", "type", "vcan")
    run.sh("ip", "link", "set", "vcan0", "up")
    with run.candump.open("wb") as dump:
        candump = subprocess.Popen(["stdbuf", "-oL", "candump", "-L", "any"], stdout=dump)
    time.sleep(0.5)
    try:
        scenarios(run)
    except Exception as exc:  # recorded for the host, which fails every scenario with it
        run.event("error", error=f"{type(exc).__name__}: {exc}")
    finally:
        candump.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            candump.wait(timeout=10)
        run.event("done", uptime_s=uptime_s())
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
