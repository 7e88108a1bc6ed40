"""Shared helpers for the jk_uart tests: the reference frames and a clock that also runs in real time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

DATA = Path(__file__).parent / "data" / "jk_uart_frames.txt"


def load_frames() -> dict[str, bytes]:
    """The reference frames of ``data/jk_uart_frames.txt`` by name."""
    frames: dict[str, bytes] = {}
    name = ""
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("frame:"):
            frames[name] = bytes.fromhex(line.split(":", 1)[1])
    return frames


FRAMES = load_frames()


def with_checksum_fixed(frame: bytes) -> bytes:
    """``frame`` with its last two bytes replaced by the correct 16-bit sum."""
    length = int.from_bytes(frame[2:4], "big")
    return frame[:-2] + (sum(frame[: length - 2]) & 0xFFFF).to_bytes(2, "big")


class SkewClock:
    """Real monotonic time plus an offset that tests push forward (``advance``, ``sleep``).

    Deadlines on it pass in real time (so a silent port times out), while the engine's staleness and
    backoff can be driven forward without waiting.
    """

    def __init__(self) -> None:
        self._offset = 1000.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def wake(self) -> None:
        pass
