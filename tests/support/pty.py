"""The far end of a serial port, played on a pseudo-terminal by a reader thread.

:class:`PtyPeer` opens a raw pty and hands what the host writes to :meth:`PtyPeer._received`,
stamped with ``clock``. With ``link`` the host opens a symlink kept pointing at the current pty
(like a udev ``/dev/serial/by-id`` name), so the device can misbehave like real hardware:
:meth:`~PtyPeer.vanish` closes the pty and removes the link (a pulled USB adapter: writes fail with
EIO, reopening finds no device); :meth:`~PtyPeer.come_back` serves a new pty behind the same link;
:meth:`~PtyPeer.jam` stops draining and fills the pty's buffer, so the host's next write times out,
until :meth:`~PtyPeer.unjam` (the NUL filler then reaches :meth:`~PtyPeer._received`).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Callable

POLL_S = 0.02


class PtyPeer:
    """One pty (behind ``link`` if given) and one reader thread; subclasses answer what arrives."""

    def __init__(
        self, *, link: str | None = None, clock: Callable[[], float] = time.monotonic, name: str = "pty-peer"
    ) -> None:
        self.link = link
        self.clock = clock
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_path = ""
        self._buffer = b""
        self._jammed = threading.Event()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def port(self) -> str:
        """What the host opens: ``link`` if given, else the current pty's slave device."""
        return self.link if self.link is not None else self._slave_path

    # -- control ------------------------------------------------------------------------------

    def vanish(self) -> None:
        """Pull the device: close the pty (the host's writes now fail) and remove the link."""
        with self._lock:
            if self.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.link)
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None

    def come_back(self) -> None:
        """Plug the device in again: a new pty behind the same link."""
        with self._lock:
            if self._master is None:
                self._open_pty()

    def jam(self) -> None:
        """Stop draining and fill the pty buffer, so the host's next write blocks until its timeout."""
        self._paused.clear()
        self._jammed.set()
        self._paused.wait(2.0)  # the reader thread has stopped reading
        with self._lock:
            slave = self._slave
        if slave is None:
            return
        os.set_blocking(slave, False)
        junk = b"\x00" * 1024
        refused = 0
        deadline = time.monotonic() + 2.0
        while refused < 10 and time.monotonic() < deadline:  # the kernel frees room in steps
            try:
                os.write(slave, junk)
                refused = 0
            except BlockingIOError:
                refused += 1
                time.sleep(0.005)
            except OSError:
                return

    def unjam(self) -> None:
        """Drain again."""
        self._jammed.clear()

    def close(self) -> None:
        """Stop the thread, close the pty and remove the link."""
        self._stop.set()
        self._thread.join(timeout=2)
        self.vanish()

    # -- the device -----------------------------------------------------------------------------

    def _received(self, buffer: bytes, now: float) -> bytes:
        """Answer what is in ``buffer`` (it arrived at ``now``); return what is left for later."""
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        """Write all of ``data`` to the host; lost, as on a wire, when the pty is gone."""
        with self._lock:
            master = self._master
        if master is None:
            return
        view = memoryview(data)
        with contextlib.suppress(OSError):
            while view:
                view = view[os.write(master, view) :]

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self._slave_path = os.ttyname(slave)
        self._buffer = b""
        if self.link is not None:
            tmp = f"{self.link}.new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self._slave_path, tmp)
            os.replace(tmp, self.link)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                master = self._master
            if master is None or self._jammed.is_set():
                if self._jammed.is_set():
                    self._paused.set()
                time.sleep(0.005)
                continue
            try:
                ready, _, _ = select.select([master], [], [], POLL_S)
                if not ready:
                    continue
                chunk = os.read(master, 4096)
            except (OSError, ValueError):  # vanished under our feet (fd closed)
                time.sleep(0.005)
                continue
            self._buffer = self._received(self._buffer + chunk, self.clock())
