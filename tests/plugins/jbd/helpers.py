"""Shared helpers for the jbd tests: the reference frames and an independent frame decoder (struct)."""

from __future__ import annotations

import struct
from pathlib import Path

DATA = Path(__file__).parent / "data" / "jbd_frames.txt"


def load_frames() -> dict[str, bytes]:
    """The reference frames of ``data/jbd_frames.txt`` by name."""
    frames: dict[str, bytes] = {}
    name = ""
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("frame:"):
            frames[name] = bytes.fromhex(line.split(":", 1)[1])
    return frames


FRAMES = load_frames()


def with_checksum(frame: bytes) -> bytes:
    """``frame`` with its checksum recomputed over bytes 2 .. 3+n (an independent implementation)."""
    n = frame[3]
    total = (0x10000 - sum(frame[2 : 4 + n])) & 0xFFFF
    return frame[: 4 + n] + struct.pack(">H", total) + frame[6 + n :]


def struct_basic(frame: bytes) -> dict[str, object]:
    """Decode a 0x03 reply with ``struct``, as a cross-check of :mod:`jbd.decode`."""
    data = frame[4 : 4 + frame[3]]
    fields = struct.unpack_from(">HhHHHHHHHBBBBB", data)
    volts, amps, remaining, nominal, cycles, _date, bal_lo, bal_hi, prot, _ver, soc, fet, cells, ntcs = fields
    temps = struct.unpack_from(f">{ntcs}H", data, 23)
    return {
        "voltage_v": volts / 100,
        "current_a": amps / 100,
        "remaining_capacity_ah": remaining / 100,
        "capacity_ah": nominal / 100,
        "cycle_count": cycles,
        "balance": bal_lo | bal_hi << 16,
        "protection": prot,
        "soc_pct": soc,
        "fet": fet,
        "cell_count": cells,
        "temperatures_c": [round((t - 2731) / 10, 1) for t in temps],
    }


def struct_cells(frame: bytes) -> list[float]:
    """Decode a 0x04 reply with ``struct``."""
    n = frame[3]
    return [mv / 1000 for mv in struct.unpack_from(f">{n // 2}H", frame, 4)]
