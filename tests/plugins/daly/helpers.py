"""Shared helpers for the daly tests: the reference frames and a clock that also runs in real time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

DATA = Path(__file__).parent / "data" / "daly_frames.txt"


def load_frames() -> dict[str, bytes]:
    """The reference frames (or streams) of ``data/daly_frames.txt`` by name."""
    frames: dict[str, bytes] = {}
    name = ""
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("hex:"):
            frames[name] = bytes.fromhex(line.split(":", 1)[1])
    return frames


FRAMES = load_frames()


def frame_list(name: str) -> list[bytes]:
    """The 13-byte frames of a checksum-valid block, in order."""
    raw = FRAMES[name]
    return [raw[i : i + 13] for i in range(0, len(raw), 13)]


def with_sum(frame: bytes) -> bytes:
    """``frame`` (12 or 13 bytes) with its sum8 recomputed."""
    return frame[:12] + bytes((sum(frame[:12]) & 0xFF,))


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
