"""Faults a simulated BMS can inject into its replies, rendered as timed chunks (pure)."""

from __future__ import annotations

import random

from gateway_core.simkit import Chunk

#: Faults :meth:`~jk_uart.simulator.SimulatedBms.inject` knows. A reader must fail safely on
#: ``silence``, ``garbage``, ``bad_checksum`` and a ``trickle`` slower than its deadline, and must
#: raise ImplausibleReply on ``nonsense`` (valid frame, SOC 255 %), and must
#: read through ``split``, ``noise`` (garbage, then the frame) and ``echo`` (the request echoed
#: first, as a half-duplex RS485 adapter does).
FAULTS = ("silence", "garbage", "bad_checksum", "nonsense", "split", "trickle", "noise", "echo")


def noise(rng: random.Random, size: int = 48) -> bytes:
    """Random bytes that hold no frame start (no 0x4E)."""
    return bytes(b if b != 0x4E else 0x4F for b in rng.randbytes(size))


def render_fault(
    fault: str, request: bytes, frame: bytes, rng: random.Random, split_pause_s: float, trickle_byte_s: float
) -> list[Chunk]:
    """What a BMS suffering ``fault`` sends instead of ``frame`` in answer to ``request``."""
    if fault == "silence":
        return []
    if fault == "garbage":
        return [Chunk(0.0, noise(rng))]
    if fault == "bad_checksum":
        return [Chunk(0.0, frame[:-1] + bytes((frame[-1] ^ 0x5A,)))]
    if fault == "split":
        cut = rng.randrange(1, len(frame))
        return [Chunk(0.0, frame[:cut]), Chunk(split_pause_s, frame[cut:])]
    if fault == "trickle":
        return [Chunk(trickle_byte_s, bytes((b,))) for b in frame]
    if fault == "noise":
        return [Chunk(0.0, noise(rng) + frame)]
    if fault == "echo":
        return [Chunk(0.0, request + frame)]
    raise ValueError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
