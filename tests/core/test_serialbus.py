"""Shared serial lines: one open port, fair turns (least recently served), the gap, a hung holder."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest

from gateway_core import serialbus
from gateway_core.clock import MonotonicClock
from gateway_core.errors import SourceTimeout, SourceUnavailable
from gateway_core.serialbus import LineBusy, SharedLine, open_line
from tests.fakes import FakeClock

_ports = itertools.count()


class Handles:
    """Counts opens and closes of the fake port handle."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    def open(self) -> object:
        self.opened += 1
        return object()

    def close(self, handle: object) -> None:
        self.closed += 1


def three(clock=None) -> tuple[SharedLine[object], Handles, str]:
    handles = Handles()
    port = f"test://line-{next(_ports)}"
    line = None
    for name in ("pack1", "pack2", "pack3"):
        line = open_line(port, name, handles.open, handles.close, clock or MonotonicClock())
    assert line is not None
    return line, handles, port


def test_three_instances_share_one_open_port_and_the_last_out_closes_it():
    line, handles, port = three()
    assert handles.opened == 1 and line.clients == {"pack1", "pack2", "pack3"}
    assert open_line(port, "pack1", handles.open, handles.close, MonotonicClock()) is line
    line.release("pack1")
    line.release("pack2")
    assert handles.closed == 0 and not line.closed
    line.release("pack3")
    assert handles.closed == 1 and line.closed
    again = open_line(port, "pack1", handles.open, handles.close, MonotonicClock())
    assert again is not line and handles.opened == 2
    again.release("pack1")


def cycle(
    line: SharedLine[object], order: list[str], hold_s: float, wait_s: float, served: Counter[str]
) -> None:
    """Every client asks for a turn at (nearly) the same time, in ``order``, as a bank's lanes do."""

    def client(name: str, delay: float) -> None:
        time.sleep(delay)
        try:
            with line.turn(name, wait_s=wait_s):
                served[name] += 1
                time.sleep(hold_s)
        except LineBusy:
            pass

    start = threading.Barrier(len(order))

    def staggered(name: str, delay: float) -> None:
        start.wait()
        client(name, delay)

    threads = [threading.Thread(target=staggered, args=(name, 0.002 * i)) for i, name in enumerate(order)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_turns_go_to_the_least_recently_served_even_when_one_instance_always_asks_first(monkeypatch):
    monkeypatch.setattr(serialbus, "SETTLE_S", 0.05)  # generous, so a loaded test machine's jitter fits
    line, _, _ = three()
    served: Counter[str] = Counter()
    for _ in range(12):
        # room for about one turn per cycle; pack1's thread always asks 2 ms before the others
        cycle(line, ["pack1", "pack2", "pack3"], hold_s=0.08, wait_s=0.07, served=served)
    assert sum(served.values()) >= 12
    assert max(served.values()) - min(served.values()) <= 1, served
    for name in ("pack1", "pack2", "pack3"):
        line.release(name)


def test_the_gap_separates_one_turn_s_end_from_the_next_turn_s_start():
    clock = FakeClock()
    line, _, _ = three(clock)
    with line.turn("pack1", wait_s=1.0, gap_s=0.15):
        pass
    assert clock.sleeps == []  # nothing came before the first turn
    clock.advance(0.05)
    with line.turn("pack2", wait_s=1.0, gap_s=0.15):
        assert clock.sleeps == [pytest.approx(0.10)]
    clock.advance(1.0)
    with line.turn("pack3", wait_s=1.0, gap_s=0.15):
        pass
    assert len(clock.sleeps) == 1  # a long silence needs no extra gap
    for name in ("pack1", "pack2", "pack3"):
        line.release(name)


def test_a_hung_holder_makes_the_others_give_up_after_their_wait_then_they_are_served():
    line, _, _ = three()
    holding, release = threading.Event(), threading.Event()

    def hung() -> None:
        with line.turn("pack1", wait_s=1.0):
            holding.set()
            release.wait(10.0)  # a driver stuck in a read

    thread = threading.Thread(target=hung, daemon=True)
    thread.start()
    assert holding.wait(2.0)
    errors: list[BaseException] = []

    def waiter(name: str) -> None:
        try:
            with line.turn(name, wait_s=0.1):
                pass
        except BaseException as exc:
            errors.append(exc)

    waiters = [threading.Thread(target=waiter, args=(name,)) for name in ("pack2", "pack3")]
    for w in waiters:
        w.start()
    for w in waiters:
        w.join(5.0)
        assert not w.is_alive()  # the hung holder did not stall them beyond their wait
    assert len(errors) == 2 and all(isinstance(e, LineBusy) for e in errors)
    assert isinstance(errors[0], SourceTimeout)  # the engine keeps the last good reading until stale
    assert "pack1 has it" in str(errors[0]) and "0.10 s" in str(errors[0])
    release.set()
    thread.join(2.0)
    with line.turn("pack2", wait_s=1.0) as handle:  # the line works again once the holder lets go
        assert handle is line.handle
    for name in ("pack1", "pack2", "pack3"):
        line.release(name)


def test_invalidate_closes_the_port_for_everyone_and_the_next_open_gets_a_new_one():
    line, handles, port = three()
    line.invalidate()
    assert line.closed and handles.closed == 1
    with pytest.raises(SourceUnavailable, match="closed"), line.turn("pack2", wait_s=0.1):
        pass
    fresh = open_line(port, "pack2", handles.open, handles.close, MonotonicClock())
    assert fresh is not line and handles.opened == 2
    fresh.release("pack2")


def test_a_single_instance_waits_for_no_one():
    handles = Handles()
    line = open_line(f"test://solo-{next(_ports)}", "only", handles.open, handles.close, FakeClock())
    with line.turn("only", wait_s=0.0) as handle:
        assert handle is line.handle
    line.release("only")
