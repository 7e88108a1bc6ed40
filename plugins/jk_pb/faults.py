"""Faults a simulated JK-PB line injects into a pack's reply, rendered as timed chunks (pure)."""

from __future__ import annotations

import random

from gateway_core.simkit import FAULTS, Chunk

__all__ = ["FAULTS", "noise", "render_fault"]


def noise(rng: random.Random, size: int = 48) -> bytes:
    """Random bytes that start no record and hold no function-0x10 piece (no 0x55, no 0x10)."""
    return bytes(b if b not in (0x55, 0x10) else 0x5A for b in rng.randbytes(size))


def render_fault(
    fault: str, request: bytes, reply: bytes, rng: random.Random, split_pause_s: float, trickle_byte_s: float
) -> list[Chunk]:
    """What a pack suffering ``fault`` sends instead of ``reply`` (record, padding, ACK) to ``request``.

    ``nonsense`` is applied to the record itself by the line (valid sum, impossible content).
    """
    if fault == "silence":
        return []
    if fault == "garbage":
        return [Chunk(0.0, noise(rng))]
    if fault == "bad_checksum":
        return [Chunk(0.0, reply[:299] + bytes((reply[299] ^ 0x5A,)) + reply[300:])]
    if fault == "split":
        cut = rng.randrange(1, len(reply))
        return [Chunk(0.0, reply[:cut]), Chunk(split_pause_s, reply[cut:])]
    if fault == "trickle":
        return [Chunk(trickle_byte_s, bytes((b,))) for b in reply]
    if fault == "noise":
        return [Chunk(0.0, noise(rng) + reply)]
    if fault == "echo":
        return [Chunk(0.0, request + reply)]
    if fault == "nonsense":
        return [Chunk(0.0, reply)]
    raise ValueError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
