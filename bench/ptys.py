"""Two pseudo-terminal peers for benchmarks: a JK BMS that notes when its reply left, and an slcan
adapter that notes when each CAN frame arrived (both on ``time.perf_counter``)."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty

from jk_uart.simulator import SimulatedBms


class _PtyPeer:
    """One pty and a reader thread; subclasses answer what arrives."""

    def __init__(self, name: str) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            buffer = self._received(buffer + chunk, time.perf_counter())

    def _received(self, buffer: bytes, now: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Stop the thread and close the pty."""
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class JkPeer(_PtyPeer):
    """Answers each read request at once with the simulator's reply; ``replied_at`` lists when the
    last byte of each reply was in the pty (after ``os.write`` returned)."""

    def __init__(self, cells: int = 16) -> None:
        self.sim = SimulatedBms(cells=cells, soc_pct=60.0, current_a=-10.0)
        self.replied_at: list[float] = []
        super().__init__("bench-jk")

    def _received(self, buffer: bytes, now: float) -> bytes:
        reply = self.sim.reply(buffer)
        if reply:
            view = memoryview(reply)
            while view:
                view = view[os.write(self.master, view) :]
            self.replied_at.append(time.perf_counter())
        return b""


class SlcanPeer(_PtyPeer):
    """A fake slcan adapter: acknowledges commands and frames; ``frames`` holds (time, id)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int]] = []
        super().__init__("bench-slcan")

    def _received(self, buffer: bytes, now: float) -> bytes:
        while b"\r" in buffer:
            line, buffer = buffer.split(b"\r", 1)
            if line.startswith(b"t") and len(line) >= 5:
                self.frames.append((now, int(line[1:4], 16)))
                reply = b"z\r"
            else:
                reply = b"\r"
            with contextlib.suppress(OSError):
                os.write(self.master, reply)
        return buffer

    def first_frame(self, timeout_s: float) -> float | None:
        """When the first frame arrived, waiting up to ``timeout_s``."""
        deadline = time.perf_counter() + timeout_s
        while not self.frames and time.perf_counter() < deadline:
            time.sleep(0.001)
        return self.frames[0][0] if self.frames else None
