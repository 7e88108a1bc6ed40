"""What the I/O steps of one cycle cost in CPU, each alone: the floor under ``gateway run``'s figure.

Each figure is CPU time of the calling thread (``time.thread_time``) per operation, on ptys with a
peer thread that answers at once, so wire time and the peer's own work are not in it.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Callable


def _per_call(operation: Callable[[], object], calls: int) -> float:
    """CPU µs of the calling thread per call of ``operation``."""
    start = time.thread_time()
    for _ in range(calls):
        operation()
    return (time.thread_time() - start) / calls * 1e6


def _pty() -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


def sleep_wake(calls: int = 300) -> float:
    """One ``time.sleep(0.002)``: the cost of a frame gap (the kernel's timer and the wake-up)."""
    return _per_call(lambda: time.sleep(0.002), calls)


def thread_handoff(calls: int = 300) -> float:
    """Handing a job to another thread and waiting for its answer (the engine's lane, per pack)."""
    request, answer = threading.Event(), threading.Event()
    stop = False

    def worker() -> None:
        while True:
            request.wait()
            request.clear()
            if stop:
                return
            answer.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()

    def handoff() -> None:
        request.set()
        answer.wait()
        answer.clear()

    try:
        return _per_call(handoff, calls)
    finally:
        stop = True
        request.set()
        thread.join(1)


def jk_exchange(calls: int = 300) -> float:
    """pyserial: write a 21-byte JK request and read a 299-byte reply that is already waiting."""
    import serial

    master, path = _pty()
    port = serial.Serial(path, 115200, timeout=0.05)
    reply = bytes(299)

    def exchange() -> None:
        port.reset_input_buffer()
        port.write(bytes(21))
        os.read(master, 64)  # (the peer's side: not the gateway's CPU, but it is this thread's)
        os.write(master, reply)
        got = b""
        while len(got) < len(reply):
            got += port.read(port.in_waiting or 1)

    try:
        return _per_call(exchange, calls)
    finally:
        port.close()
        os.close(master)


def slcan_send(calls: int = 300) -> float:
    """python-can's slcan ``send()`` of one 8-byte frame through the sink's guarded bus (written and
    flushed), with a sixth of the sink's drain after each set of six (eight ``recv(0)`` polls)."""
    import can

    from pylontech_can.slcanbus import GuardedSlcanBus

    master, path = _pty()
    stop = threading.Event()

    def adapter() -> None:  # answers each command line with CR and each frame with z CR
        while not stop.is_set():
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            answers = b"".join(b"z\r" if line[:1] == b"t" else b"\r" for line in data.split(b"\r")[:-1])
            os.write(master, answers)

    thread = threading.Thread(target=adapter, daemon=True)
    thread.start()
    bus = GuardedSlcanBus(channel=path, sleep_after_open=0)
    message = can.Message(arbitration_id=0x351, data=bytes(8), is_extended_id=False)
    sent = 0

    def send() -> None:
        nonlocal sent
        bus.send(message, timeout=0.1)
        sent += 1
        if sent % 6 == 0:
            for _ in range(8):
                bus.recv(0)

    try:
        return _per_call(send, calls)
    finally:
        bus.shutdown()
        stop.set()
        os.close(master)
        thread.join(1)


def ladder_decide(pause_s: float, calls: int = 30) -> float:
    """Median CPU µs of one ladder decision, taken ``pause_s`` after the previous one.

    Back to back the code and data stay in the CPU's caches; after a period's idle (0.2 s) they are
    cold again, as in every cycle of the running gateway.
    """
    import dataclasses
    import logging
    import statistics

    from gateway_core.model import GatewayState
    from gateway_core.roles import PluginContext
    from limit_ladder.config import LadderConfig
    from limit_ladder.policy import LadderPolicy

    from .cycle import PacedClock
    from .metrics_update import sample_result

    clock = PacedClock()
    policy = LadderPolicy(LadderConfig(), PluginContext("limit_ladder", clock, logging.getLogger("bench")))
    reading = sample_result().reading
    assert reading is not None
    figures = []
    for cycle in range(calls + 10):
        current = dataclasses.replace(reading, taken_at_s=clock.now())
        if pause_s:
            time.sleep(pause_s)
        start = time.thread_time()
        policy.decide(current, GatewayState(clock.now(), cycle))
        figures.append((time.thread_time() - start) * 1e6)
        clock.tick(0.2)
    return statistics.median(figures[10:])
