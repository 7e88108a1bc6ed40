"""The frames a sink sent, as JSON-ready records, decoded when the sink speaks Pylontech.

The Pylontech decoder (``pylontech_can``: cantools and the DBC) is imported lazily, the first time a
``pylontech`` sink's frames are shown; without it, or for any other sink, a frame is shown in hex.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from gateway_core.model import SentFrame

#: Plugins whose frames the Pylontech decoder understands.
PYLONTECH_PLUGINS = frozenset({"pylontech"})

Decoder = Callable[[int, bytes], tuple[str | None, str, dict[str, Any] | None]]


def frame_id_text(frame: SentFrame) -> str:
    """``0x351`` for a standard id, ``0x1ABCDE00`` (8 digits) for an extended one."""
    return f"0x{frame.arbitration_id:08X}" if frame.is_extended_id else f"0x{frame.arbitration_id:03X}"


@functools.cache
def pylontech_decoder() -> Decoder | None:
    """``decode(id, data) -> (name, summary, signals)`` from ``pylontech_can``, or None if absent.

    Imported once, on first use (cantools loads the DBC then).
    """
    try:
        from pylontech_can.decode import FrameDecodeError, decode_frame, frame_name
        from pylontech_can.monitor import summarize
    except ImportError:
        return None

    def decode(arbitration_id: int, data: bytes) -> tuple[str | None, str, dict[str, Any] | None]:
        try:
            signals = decode_frame(arbitration_id, data)
        except FrameDecodeError as exc:
            return frame_name(arbitration_id), str(exc), None
        return frame_name(arbitration_id), summarize(arbitration_id, data), signals

    return decode


def frame_records(frames: Sequence[SentFrame], decoder: Decoder | None) -> list[dict[str, Any]]:
    """One record per frame: ``id``, ``extended``, ``data`` (hex), and ``name``/``summary``/``signals``.

    ``name``, ``summary`` and ``signals`` are None when there is no decoder or the frame is not one it
    knows (an extended id is never a Pylontech frame).
    """
    records = []
    for frame in frames:
        record: dict[str, Any] = {
            "id": frame_id_text(frame),
            "extended": frame.is_extended_id,
            "data": bytes(frame.data).hex(" ").upper(),
            "name": None,
            "summary": None,
            "signals": None,
        }
        if decoder is not None and not frame.is_extended_id:
            record["name"], record["summary"], record["signals"] = decoder(frame.arbitration_id, frame.data)
        records.append(record)
    return records
