"""Faults a simulated JBD BMS can inject into its replies, rendered as timed chunks (pure).

The shared :data:`gateway_core.simkit.FAULTS` plus three of this protocol: ``status_error`` (the
BMS refuses: status 0x80, no data), ``wrong_register`` (a valid reply to another register) and
``up16s`` (a UP-series Modbus-like frame instead of a DD ... 77 reply). ``nonsense`` is applied by
the simulator itself (valid framing, impossible content).
"""

from __future__ import annotations

import random

from gateway_core.simkit import FAULTS as CORE_FAULTS
from gateway_core.simkit import Chunk

from .protocol import START, STATUS_ERROR, build_reply

FAULTS = (*CORE_FAULTS, "status_error", "wrong_register", "up16s")


def noise(rng: random.Random, size: int = 48) -> bytes:
    """Random bytes that hold no frame start (no 0xDD)."""
    return bytes(b if b != START else 0xDC for b in rng.randbytes(size))


def status_error(register: int) -> bytes:
    """The refusal a JBD sends: ``DD reg 80 00 chk 77``."""
    return build_reply(register, b"", STATUS_ERROR)


def render_fault(
    fault: str, request: bytes, frame: bytes, rng: random.Random, split_pause_s: float, trickle_byte_s: float
) -> list[Chunk]:
    """What a BMS suffering ``fault`` sends instead of ``frame`` in answer to ``request``.

    ``status_error``, ``wrong_register``, ``up16s`` and ``nonsense`` change the frame itself: the
    simulator builds it and passes it here as ``frame`` (sent as it is).
    """
    if fault == "silence":
        return []
    if fault == "garbage":
        return [Chunk(0.0, noise(rng))]
    if fault == "bad_checksum":
        return [Chunk(0.0, frame[:-2] + bytes((frame[-2] ^ 0x5A, frame[-1])))]
    if fault == "split":
        cut = rng.randrange(1, len(frame))
        return [Chunk(0.0, frame[:cut]), Chunk(split_pause_s, frame[cut:])]
    if fault == "trickle":
        return [Chunk(trickle_byte_s, bytes((b,))) for b in frame]
    if fault == "noise":
        return [Chunk(0.0, noise(rng) + frame)]
    if fault == "echo":
        return [Chunk(0.0, request + frame)]
    if fault in ("nonsense", "status_error", "wrong_register", "up16s"):
        return [Chunk(0.0, frame)]
    raise ValueError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
