"""Which received frame answers the request just sent (pure: times are passed in).

A JK "4E 57" reply carries no sequence number: the record number (4 bytes before the end marker) is
``00 00 00 00`` in every reply we know of, and nothing says the BMS would echo a non-zero one. What a
reply does let us check:

- it is a reply (transport ``01``), not our request echoed by a half-duplex RS485 adapter;
- its command byte echoes the request's (``06`` read all), so a reply to another master's ``03``
  request on the same bus is not taken for ours;
- it cannot be complete sooner than its wire time after our request went out: the request's bytes
  and the reply's own must cross the line first. A frame that completes sooner was already in
  flight (a late reply to an earlier request, released by a buffering ``socket://`` or
  ``rfc2217://`` link), so it is discarded. :data:`WIRE_MARGIN` allows for clock granularity.

What cannot be told apart: a late reply that happens to complete *after* that wire time (a link that
holds replies back by a period and a bit) looks exactly like a fresh one. The source flushes its
input before every request, so only a reply released during our own wait can slip through.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.ptysim import wire_time_s

from .protocol import Frame

#: A reply completing before this share of its wire time after the request is a late one.
WIRE_MARGIN = 0.9


def earliest_reply_s(request_len: int, frame_len: int, baud: int) -> float:
    """Seconds after the request is written before a ``frame_len`` reply can be complete."""
    return wire_time_s(request_len + frame_len, baud) * WIRE_MARGIN


@dataclass(frozen=True, slots=True)
class Pick:
    """The outcome of sorting the frames one read completed: the reply (or ``None``) and what was skipped."""

    reply: Frame | None
    echoes: int = 0
    foreign: int = 0
    early: int = 0


def pick_reply(frames: list[Frame], *, command: int, request_len: int, elapsed_s: float, baud: int) -> Pick:
    """The first frame in ``frames`` that can answer our request, completed ``elapsed_s`` after it."""
    echoes = foreign = early = 0
    for frame in frames:
        if frame.is_request:
            echoes += 1
        elif frame.command != command:
            foreign += 1
        elif elapsed_s < earliest_reply_s(request_len, len(frame.raw), baud):
            early += 1
        else:
            return Pick(frame, echoes, foreign, early)
    return Pick(None, echoes, foreign, early)
