"""Many parallel requests must not delay a cycle: the loop's recorded cycle start times stay on the grid.

A real gateway runs in this process (JK simulator, ladder policy, Pylontech sink on a virtual bus,
the web observer); a separate process plays many browsers at once, as clients on the LAN would,
so only the server's own threads share this process with the control loop. Nothing about speed
is asserted: only that every cycle started in its slot of the absolute schedule and none was skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from .live import live_gateway

CLIENT_THREADS = 48
CYCLES = 20

HAMMER = textwrap.dedent(
    """
    import collections, itertools, json, sys, threading, urllib.error, urllib.request
    base, threads = sys.argv[1], int(sys.argv[2])
    stop = threading.Event()
    counts = collections.Counter()
    lock = threading.Lock()
    paths = itertools.cycle(["api/state", "api/history", "", "app.js", "api/state"])

    def client():
        while not stop.is_set():
            with lock:
                path = next(paths)
            try:
                with urllib.request.urlopen(base + path, timeout=10) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = "error"
            with lock:
                counts[status] += 1
                if sum(counts.values()) == 200:
                    print("busy", flush=True)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    sys.stdin.read()  # until the test closes our stdin
    stop.set()
    for worker in workers:
        worker.join()
    print(json.dumps({str(k): v for k, v in counts.items()}), flush=True)
    """
)


def test_parallel_requests_do_not_delay_any_cycle() -> None:
    with live_gateway(period_s=0.2) as live:
        hammer = subprocess.Popen(
            [sys.executable, "-c", HAMMER, live.url, str(CLIENT_THREADS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert hammer.stdout is not None and hammer.stdin is not None
            assert hammer.stdout.readline().strip() == "busy"  # 200 answers in: the hammer is at work
            first = len(live.results)
            skipped_before = live.gateway.loop.skipped_slots
            live.wait_cycles(CYCLES)
            during = live.results[first : first + CYCLES]
            skipped = live.gateway.loop.skipped_slots - skipped_before
        finally:
            assert hammer.stdin is not None
            hammer.stdin.close()
            out = hammer.stdout.read() if hammer.stdout is not None else ""
            hammer.wait(30)
    counts = json.loads(out.strip().splitlines()[-1])

    assert counts.get("200", 0) >= 200 and "error" not in counts, counts
    assert set(counts) <= {"200", "503"}, counts
    starts = [r.started_at_s for r in during]
    period = live.period_s
    drift = [abs((t - starts[0]) - i * period) for i, t in enumerate(starts)]
    assert skipped == 0
    assert max(drift) < period / 2, f"cycle starts left the {period} s grid: {drift}"
    assert [r.cycle for r in during] == list(range(during[0].cycle, during[0].cycle + CYCLES))
    assert all(r.published and r.limits.fault is None for r in during)
