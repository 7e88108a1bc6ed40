"""A fake slcan CAN adapter on a pseudo-terminal, behind a symlink the test controls.

The gateway's ``pylontech`` sink opens the symlink with python-can's ``slcan`` interface. The
adapter records every frame sent (with its arrival time on the monotonic clock) and can misbehave
like real hardware: :meth:`vanish` closes the pty and removes the link (a pulled USB adapter: writes
fail with EIO, reopening finds no device); :meth:`come_back` serves a new pty behind the same link
(udev recreating ``/dev/serial/by-id/...``); :meth:`jam` stops draining and fills the pty's buffer,
so the next send times out (a transmit queue that no longer empties), until :meth:`unjam`.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import threading
import time
import tty
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BusFrame:
    """One frame the host sent, with its arrival time (``time.monotonic``)."""

    at_s: float
    arbitration_id: int
    data: bytes

    @property
    def currents(self) -> tuple[float, float]:
        """Charge and discharge current limits of a 0x351 frame (A)."""
        _cvl, ccl, dcl = struct.unpack_from("<Hhh", self.data)
        return ccl / 10.0, dcl / 10.0

    @property
    def allows_current(self) -> bool:
        """A 0x351 frame with a non-zero charge or discharge limit."""
        return any(amps != 0 for amps in self.currents)


class SlcanAdapter:
    """Serves the slcan protocol on a pty behind ``link``; one reader thread."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.frames: list[BusFrame] = []
        self.opens = 0
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._jammed = threading.Event()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._buffer = b""
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name="fake-slcan", daemon=True)
        self._thread.start()

    # -- control ------------------------------------------------------------------------------

    def vanish(self) -> None:
        """Pull the adapter: close the pty (the host's writes now fail) and remove the link."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None

    def come_back(self) -> None:
        """Plug the adapter in again: a new pty behind the same link."""
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
        """Drain again (the junk is discarded like line noise)."""
        self._jammed.clear()

    def close(self) -> None:
        """Stop the thread and close everything."""
        self._stop.set()
        self._thread.join(timeout=2)
        self.vanish()

    # -- what was sent ------------------------------------------------------------------------

    def sent(self, arbitration_id: int | None = None) -> list[BusFrame]:
        """Frames received so far (only ``arbitration_id`` ones if given)."""
        with self._lock:
            frames = list(self.frames)
        if arbitration_id is None:
            return frames
        return [frame for frame in frames if frame.arbitration_id == arbitration_id]

    def wait_for(self, arbitration_id: int, count: int, timeout_s: float = 10.0) -> list[BusFrame]:
        """Wait (bounded) until ``count`` frames with ``arbitration_id`` arrived; return them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            frames = self.sent(arbitration_id)
            if len(frames) >= count:
                return frames
            time.sleep(0.005)
        return self.sent(arbitration_id)

    # -- the adapter ----------------------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self._buffer = b""
        tmp = f"{self.link}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
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
                ready, _, _ = select.select([master], [], [], 0.02)
                if not ready:
                    continue
                chunk = os.read(master, 4096)
            except (OSError, ValueError):  # vanished under our feet (fd closed)
                time.sleep(0.005)
                continue
            now = time.monotonic()
            self._buffer += chunk
            while b"\r" in self._buffer:
                line, self._buffer = self._buffer.split(b"\r", 1)
                self._answer(master, line.lstrip(b"\x00").decode("ascii", "replace"), now)

    def _answer(self, master: int, line: str, now: float) -> None:
        reply = b"\r"
        if line.startswith("t") and len(line) >= 5:
            try:
                arbitration_id = int(line[1:4], 16)
                dlc = int(line[4])
                data = bytes.fromhex(line[5 : 5 + 2 * dlc])
            except ValueError:
                reply = b"\a"
            else:
                with self._lock:
                    self.frames.append(BusFrame(now, arbitration_id, data))
                reply = b"z\r"
        elif line in ("O", "L"):
            self.opens += 1
        with contextlib.suppress(OSError):
            os.write(master, reply)
