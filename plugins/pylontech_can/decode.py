"""Pure: Pylontech frames back to physical values (through our DBC files).

:func:`decode_frame` names each value after its DBC signal plus a unit suffix (``_v``, ``_a``,
``_pct``, ``_c``, ``_ah``); one-bit flags become booleans, the ASCII fields (manufacturer, ``pn``,
the 0x374-0x377 names) strings and the 2-bit 0x35A fields their state (``ok``, ``raised``, ...).
A ``variant`` (``"8"``, ``"luxpower"``) decodes 0x355/0x356/0x359/0x35C as that layout. The
candump parser lives in :mod:`.candump` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .candump import CandumpFrame, parse_candump, parse_candump_line
from .dbc import HEARTBEAT_ID, MANUFACTURER_ID, VARIANTS, load_database

__all__ = [
    "CandumpFrame",
    "FrameDecodeError",
    "decode_candump_frame",
    "decode_frame",
    "frame_name",
    "parse_candump",
    "parse_candump_line",
]

#: DBC unit -> suffix of the output key.
UNIT_SUFFIX = {"V": "_v", "A": "_a", "%": "_pct", "degC": "_c", "Ah": "_ah"}
#: Signals holding ASCII text (little-endian raw integers in the DBC) and their length in bytes.
TEXT_SIGNALS = {
    "manufacturer": 8,
    "pn": 2,
    "chemistry": 2,
    "min_voltage_cell_text": 8,
    "max_voltage_cell_text": 8,
    "min_temperature_sensor_text": 8,
    "max_temperature_sensor_text": 8,
}
#: Frames some senders cut short that are text: padded before decoding.
PADDED_IDS = (MANUFACTURER_ID, HEARTBEAT_ID, 0x374, 0x375, 0x376, 0x377)


class FrameDecodeError(ValueError):
    """A frame cannot be decoded: unknown id, or too few data bytes."""


def frame_name(arbitration_id: int, variant: str | None = None) -> str | None:
    """The DBC message name of ``arbitration_id`` (e.g. ``BatteryLimits``), None if not ours."""
    try:
        return str(load_database(variant).get_message_by_frame_id(arbitration_id).name)
    except KeyError:
        return None


def decode_frame(arbitration_id: int, data: bytes, variant: str | None = None) -> dict[str, Any]:
    """Physical values of one frame, keyed by signal name plus unit suffix.

    Extra bytes are ignored; a short frame yields the signals it fully holds (0x351 without its
    discharge voltage limit). :raises FrameDecodeError: unknown id or variant, or no complete signal.
    """
    if variant is not None and variant not in VARIANTS:
        raise FrameDecodeError(f"unknown layout variant {variant!r}; known: {', '.join(VARIANTS)}")
    try:
        message = load_database(variant).get_message_by_frame_id(arbitration_id)
    except KeyError:
        raise FrameDecodeError(
            f"0x{arbitration_id:03X} is not a Pylontech V1.2 frame or an extension this plugin knows"
        ) from None
    payload = bytes(data)
    if arbitration_id in PADDED_IDS and 0 < len(payload) < 8:
        payload = payload.ljust(8, b"\x00")  # some senders send a short name ("PYTES", 5 bytes)
    raw = cast(
        Mapping[str, int],
        message.decode(payload, decode_choices=False, scaling=False, allow_truncated=True),
    )
    if not raw:
        raise FrameDecodeError(
            f"0x{arbitration_id:03X} ({message.name}) has {len(data)} data bytes: too few to decode"
        )
    values: dict[str, Any] = {}
    for signal in message.signals:
        if signal.name not in raw:
            continue
        value = raw[signal.name]
        if signal.name in TEXT_SIGNALS:
            text = int(value).to_bytes(TEXT_SIGNALS[signal.name], "little")
            values[signal.name] = text.decode("ascii", "replace").rstrip(" \x00")
        elif signal.length == 1:
            values[signal.name] = bool(value)
        elif signal.choices:
            values[signal.name] = str(signal.choices.get(int(value), int(value)))
        elif signal.scale == 1 and signal.offset == 0:
            values[signal.name + UNIT_SUFFIX.get(signal.unit or "", "")] = int(value)
        else:
            decimals = max(0, len(f"{signal.scale:g}".partition(".")[2]))
            physical = round(value * signal.scale + signal.offset, decimals)
            values[signal.name + UNIT_SUFFIX.get(signal.unit or "", "")] = physical
    return values


def decode_candump_frame(
    frame: CandumpFrame, variants: Mapping[int, str | None] | None = None
) -> dict[str, Any]:
    """One candump frame as a JSON-ready record: where, when, id, data and the decoded signals.

    ``signals`` is None and ``error`` says why when the frame cannot be decoded. ``variants``
    (a profile's) picks the layout per id.
    """
    variant = (variants or {}).get(frame.arbitration_id)
    width = 8 if frame.is_extended_id else 3
    record: dict[str, Any] = {
        "line": frame.line_number,
        "timestamp_s": frame.timestamp_s,
        "channel": frame.channel,
        "id": f"0x{frame.arbitration_id:0{width}X}",
        "name": None if frame.is_extended_id else frame_name(frame.arbitration_id, variant),
        "data": frame.data.hex(" ").upper(),
    }
    if frame.is_extended_id:
        record["signals"] = None
        record["error"] = (
            f"29-bit id 0x{frame.arbitration_id:08X}: the Pylontech frames use 11-bit ids (written 351)"
        )
        return record
    try:
        record["signals"] = decode_frame(frame.arbitration_id, frame.data, variant)
    except FrameDecodeError as exc:
        record["signals"] = None
        record["error"] = str(exc)
    return record
