"""A fake slcan USB adapter (as a CANable runs) on the master side of a pseudo-terminal.

python-can's ``slcan`` interface opens the slave side as its serial port. The adapter answers the
ASCII commands (``O``, ``C``, ``S6``, ``V``, ``N``, ...) with ``\\r``, acknowledges each sent frame
(``t<id><dlc><data>``) with ``z\\r`` and records it, and can put frames on the "bus" for the host.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty


class FakeSlcanAdapter:
    """Runs a reader thread on a pty master; ``port`` is the path to give python-can."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.port = os.ttyname(self.slave)
        self.commands: list[str] = []
        self.frames: list[tuple[int, bytes]] = []
        self.is_open = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-slcan", daemon=True)
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
            buffer += chunk
            while b"\r" in buffer:
                line, buffer = buffer.split(b"\r", 1)
                self._answer(line.decode("ascii", "replace"))

    def _answer(self, line: str) -> None:
        with self._lock:
            self.commands.append(line)
        if line.startswith("t") and len(line) >= 5:
            arbitration_id = int(line[1:4], 16)
            dlc = int(line[4])
            data = bytes.fromhex(line[5 : 5 + 2 * dlc])
            with self._lock:
                self.frames.append((arbitration_id, data))
            reply = b"z\r" if self.is_open else b"\a"
        elif line == "V":
            reply = b"V1013\r"
        elif line == "N":
            reply = b"NA123\r"
        else:
            if line in ("O", "L"):
                self.is_open = True
            elif line == "C":
                self.is_open = False
            reply = b"\r"
        self._write(reply)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, data)

    def inject(self, arbitration_id: int, data: bytes) -> None:
        """Put a frame from another node (e.g. the inverter's 0x305) on the bus."""
        self._write(f"t{arbitration_id:03X}{len(data)}{data.hex().upper()}\r".encode())

    def received(self) -> list[tuple[int, bytes]]:
        """Frames the host sent so far."""
        with self._lock:
            return list(self.frames)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[tuple[int, bytes]]:
        """Wait (real time, bounded) until ``count`` frames arrived; return them all."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            frames = self.received()
            if len(frames) >= count:
                return frames
            time.sleep(0.005)
        return self.received()

    def wait_command(self, command: str, count: int = 1, timeout_s: float = 5.0) -> bool:
        """Wait (real time, bounded) until the host sent ``command`` ``count`` times; True if it did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.commands.count(command) >= count:
                    return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        """Stop the thread and close both ends."""
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
