"""Faults a simulated Daly unit injects into its replies, rendered as timed chunks (pure).

The fault names are the core's :data:`gateway_core.simkit.FAULTS`. ``nonsense`` is not rendered here:
the simulator encodes it into the content (a 0x90 reply with SOC 150 %: valid frame, impossible
value).
"""

from __future__ import annotations

import random

from gateway_core.simkit import FAULTS, Chunk

from .protocol import START

__all__ = ["FAULTS", "noise", "render_fault"]


def noise(rng: random.Random, size: int = 40) -> bytes:
    """Random bytes that hold no frame start (no 0xA5)."""
    return bytes(b if b != START else 0x5A for b in rng.randbytes(size))


def render_fault(
    fault: str,
    request: bytes,
    frames: list[bytes],
    rng: random.Random,
    split_pause_s: float,
    trickle_byte_s: float,
) -> list[Chunk]:
    """What a unit suffering ``fault`` sends instead of ``frames`` in answer to ``request``."""
    if fault == "silence":
        return []
    if fault == "garbage":
        return [Chunk(0.0, noise(rng))]
    if fault == "bad_checksum":
        return [Chunk(0.0, frame[:-1] + bytes((frame[-1] ^ 0x5A,))) for frame in frames]
    if fault == "split":
        reply = b"".join(frames)
        cut = rng.randrange(1, len(reply)) if len(reply) > 1 else len(reply)
        return [Chunk(0.0, reply[:cut]), Chunk(split_pause_s, reply[cut:])]
    if fault == "trickle":
        return [Chunk(trickle_byte_s, bytes((b,))) for frame in frames for b in frame]
    if fault == "noise":
        return [Chunk(0.0, noise(rng)), *(Chunk(0.0, frame) for frame in frames)]
    if fault == "echo":
        return [Chunk(0.0, request), *(Chunk(0.0, frame) for frame in frames)]
    if fault == "nonsense":
        return [Chunk(0.0, frame) for frame in frames]
    raise ValueError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
