"""Serve any :class:`~gateway_core.simkit.SimulatedDevice` on a pseudo-terminal, so real software reads it.

``PtyServer(sim).start()`` returns the path to open (the pty's slave, or ``link``: a symlink kept
pointing at the current pty, like a udev ``/dev/serial/by-id`` name). While ``sim.unplugged`` is
set the pty is closed and the link removed (a reader sees I/O errors, then "no such file"); on
``sim.plug()`` a new pty appears behind the same link. The simulator is stepped by the real time
between requests times ``speed`` (``speed=0`` leaves stepping to the caller).

With ``baud`` set, replies keep wire time as a real line would: a reply chunk is delivered no sooner
than the request's bytes plus its own would take at ``baud`` (10 bits a byte), so a source that
refuses replies faster than their wire time (late replies to an earlier request) reads it normally.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections import deque
from types import TracebackType

from .simkit import SimulatedDevice

POLL_S = 0.02


class PtyServer:
    """One thread that answers the simulator's requests on a pty; :meth:`stop` ends it."""

    def __init__(
        self, sim: SimulatedDevice, *, link: str | None = None, speed: float = 1.0, baud: int | None = None
    ) -> None:
        self.baud = baud
        self.sim = sim
        self.link = link
        self.speed = speed
        self.slave_path: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._pending: deque[tuple[float, bytes]] = deque()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_step = time.monotonic()

    @property
    def path(self) -> str:
        """What a client opens: the link if one was asked for, else the current slave device."""
        if self.link is not None:
            return self.link
        if self.slave_path is None:
            raise RuntimeError("the pty server is not started")
        return self.slave_path

    def start(self) -> str:
        """Open the pty, start serving in a daemon thread and return :attr:`path`."""
        if not self.sim.unplugged:
            self._open_pty()
        self._thread = threading.Thread(target=self._serve, name="sim-pty", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        """Stop serving, close the pty and remove the link; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._close_pty()

    def wait_state(self, plugged: bool, timeout_s: float = 2.0) -> bool:
        """Wait until the server has followed the simulator's (un)plug state; True when it has."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if (self._master is not None) == plugged:
                return True
            time.sleep(POLL_S / 2)
        return False

    def __enter__(self) -> PtyServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        self._pending.clear()
        if self.link is not None:
            tmp = f"{self.link}.tmp{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.slave_path, tmp)
            os.replace(tmp, self.link)

    def _close_pty(self) -> None:
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._pending.clear()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self.sim.unplugged and self._master is not None:
                self._close_pty()
            elif not self.sim.unplugged and self._master is None:
                self._open_pty()
            master = self._master
            if master is None:
                self._stop.wait(POLL_S)
                continue
            now = time.monotonic()
            wait = POLL_S if not self._pending else max(0.001, min(POLL_S, self._pending[0][0] - now))
            readable, _, _ = select.select([master], [], [], wait)
            if readable:
                self._receive(master)
            self._send_due(master)

    def _receive(self, master: int) -> None:
        try:
            data = os.read(master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO while no client holds the slave open: nothing to read
            time.sleep(POLL_S)
            return
        now = time.monotonic()
        if self.speed > 0:
            self.sim.step((now - self._last_step) * self.speed)
        self._last_step = now
        before = self.sim.requests
        chunks = self.sim.respond(data)
        if self.sim.requests != before:
            self._pending.clear()  # a new request abandons a reply still being sent
        at = max(now, self._pending[-1][0]) if self._pending else now
        if chunks:
            at += wire_time_s(len(data), self.baud)
        for chunk in chunks:
            at += chunk.delay_s + wire_time_s(len(chunk.data), self.baud)
            self._pending.append((at, chunk.data))

    def _send_due(self, master: int) -> None:
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            at, data = self._pending.popleft()
            try:
                written = os.write(master, data)
            except BlockingIOError:
                written = 0
            except OSError:  # the client's side is gone: the bytes are lost, as on a wire
                continue
            if written < len(data):
                self._pending.appendleft((at, data[written:]))
                return


def wire_time_s(n_bytes: int, baud: int | None) -> float:
    """Seconds ``n_bytes`` take on a UART at ``baud`` (8N1: 10 bits a byte); 0 without a baud."""
    return n_bytes * 10 / baud if baud else 0.0
