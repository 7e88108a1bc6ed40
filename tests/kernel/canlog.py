"""Frames as ``candump -L`` logs them, and the adapter's record: parsed, grouped into sets (stdlib only).

Used on both sides of the VM: the scenario script counts frames while it waits, the host tests decode
them. ``candump -L`` writes one frame a line, ``(1700000000.123456) vcan0 351#2802F401...``; its
timestamp is the kernel's receive time on ``CLOCK_REALTIME``, the clock ``time.time()`` reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The Pylontech battery frames of one cycle, in the order the sink sends them.
SET_IDS = (0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E)
LIMITS_ID = 0x351
REQUESTS_ID = 0x35C
#: The identifier of the filler frames the scenario script queues to stall the slcan adapter.
FILLER_ID = 0x7FF

_LINE = re.compile(
    r"^\((?P<at>\d+\.\d+)\)\s+(?P<iface>\S+)\s+(?P<id>[0-9A-Fa-f]{3,8})#(?P<data>[0-9A-Fa-f]*)$"
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One classic CAN frame seen at ``at_s`` (``time.time()`` seconds) on ``interface``."""

    at_s: float
    interface: str
    arbitration_id: int
    data: bytes

    @property
    def key(self) -> tuple[int, bytes]:
        """What the frame says, without when or where."""
        return self.arbitration_id, self.data


def parse_candump(text: str) -> list[Frame]:
    """The data frames of a ``candump -L`` log; other lines (errors, RTR, a torn last line) are skipped."""
    frames = []
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            continue
        frames.append(
            Frame(
                float(match["at"]),
                match["iface"],
                int(match["id"], 16),
                bytes.fromhex(match["data"]),
            )
        )
    return frames


def read_candump(path: Path) -> list[Frame]:
    """:func:`parse_candump` of a file (empty if it does not exist yet)."""
    try:
        return parse_candump(path.read_text(encoding="ascii", errors="replace"))
    except FileNotFoundError:
        return []


def on(frames: Iterable[Frame], interface: str, arbitration_id: int | None = None) -> list[Frame]:
    """The frames seen on ``interface`` (with ``arbitration_id`` only, if given)."""
    return [
        f
        for f in frames
        if f.interface == interface and (arbitration_id is None or f.arbitration_id == arbitration_id)
    ]


def between(frames: Iterable[Frame], start_s: float, end_s: float = float("inf")) -> list[Frame]:
    """The frames seen from ``start_s`` up to (not including) ``end_s``."""
    return [f for f in frames if start_s <= f.at_s < end_s]


def frame_sets(frames: Sequence[Frame]) -> list[list[Frame]]:
    """Pylontech frames grouped into sets, each starting at a 0x351; frames before the first are dropped."""
    sets: list[list[Frame]] = []
    for frame in frames:
        if frame.arbitration_id not in SET_IDS:
            continue
        if frame.arbitration_id == LIMITS_ID:
            sets.append([frame])
        elif sets:
            sets[-1].append(frame)
    return sets


def write_frames(path: Path, frames: Iterable[Frame]) -> None:
    """Write frames as JSON lines (the adapter's record)."""
    with path.open("w", encoding="ascii") as out:
        for f in frames:
            record = {"at_s": f.at_s, "interface": f.interface, "id": f.arbitration_id, "data": f.data.hex()}
            out.write(json.dumps(record) + "\n")


def read_frames(path: Path) -> list[Frame]:
    """Frames written by :func:`write_frames`."""
    frames = []
    for line in path.read_text(encoding="ascii").splitlines():
        record = json.loads(line)
        frames.append(Frame(record["at_s"], record["interface"], record["id"], bytes.fromhex(record["data"])))
    return frames
