"""Shared helpers for the jk_pb tests: the reference records and captures of data/jk_pb_records.txt."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data" / "jk_pb_records.txt"


def load_blocks() -> dict[str, tuple[str, bytes]]:
    """name -> (layout, bytes) of every block in the data file (layout ``none`` for raw captures)."""
    blocks: dict[str, tuple[str, bytes]] = {}
    name = layout = ""
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("layout:"):
            layout = line.split(":", 1)[1].strip()
        elif line.startswith("hex:"):
            blocks[name] = (layout, bytes.fromhex(line.split(":", 1)[1]))
    return blocks


BLOCKS = load_blocks()


def record(name: str) -> bytes:
    """The bytes of block ``name``."""
    return BLOCKS[name][1]


def with_sum_fixed(raw: bytes | bytearray) -> bytes:
    """``raw`` (300 bytes) with its byte 299 replaced by the correct 8-bit sum."""
    return bytes(raw[:299]) + bytes((sum(raw[:299]) & 0xFF,))
