"""Encode an energy meter datagram (the decoder's inverse; the simulated meter's voice). Pure.

The items follow a real EM 1.0 datagram's order: total active power and energy import/export, the
frequency when given, each phase's active power import/export, the firmware. Powers are rounded to
0.1 W and counters to 1 Ws, as the meter sends them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from .speedwire import (
    CHANNEL_FIRMWARE,
    EXPORT,
    FREQUENCY,
    IMPORT,
    PHASE_INDEXES,
    PROTOCOL_EM,
    SIGNATURE,
    TAG_DATA,
    TAG_GROUP,
    TYPE_COUNTER,
    TYPE_MOMENTARY,
    WS_PER_KWH,
)

#: SUSy id of an SMA Energy Meter 1.0 (349; 270 is an older EM, 372 a Sunny Home Manager 2.0).
SUSY_EM10 = 349


def obis_item(index: int, kind: int, value: int, channel: int = 0, tariff: int = 0) -> bytes:
    """One OBIS item: its 4-byte id and the value (u32 for type 4, u64 for type 8)."""
    width = 8 if kind == TYPE_COUNTER else 4
    if not 0 <= value < 256**width:
        raise ValueError(f"OBIS {channel}:{index}.{kind}.{tariff} value {value} does not fit {width} bytes")
    return bytes((channel, index, kind, tariff)) + value.to_bytes(width, "big")


def power_items(index_import: int, index_export: int, import_w: float, export_w: float) -> bytes:
    """The import and export active power items (0.1 W). :raises ValueError: a negative power."""
    if import_w < 0 or export_w < 0:
        raise ValueError(f"import {import_w} W and export {export_w} W must both be >= 0")
    return obis_item(index_import, TYPE_MOMENTARY, round(import_w * 10)) + obis_item(
        index_export, TYPE_MOMENTARY, round(export_w * 10)
    )


def encode(
    serial: int,
    import_w: float,
    export_w: float,
    phases: Sequence[tuple[float, float]] = (),
    *,
    energy_import_kwh: float = 0.0,
    energy_export_kwh: float = 0.0,
    frequency_hz: float | None = None,
    ticker_ms: int = 0,
    susy_id: int = SUSY_EM10,
    firmware: tuple[int, int, int, str] = (2, 0, 18, "R"),
    protocol: int = PROTOCOL_EM,
) -> bytes:
    """A complete datagram; ``phases`` are (import_w, export_w) pairs for L1, L2, L3 (at most 3)."""
    if len(phases) > len(PHASE_INDEXES):
        raise ValueError(f"{len(phases)} phases: a meter has at most {len(PHASE_INDEXES)}")
    if import_w < 0 or export_w < 0:
        raise ValueError(f"import {import_w} W and export {export_w} W must both be >= 0")
    for name, value, limit in (
        ("serial", serial, 2**32),
        ("ticker_ms", ticker_ms, 2**32),
        ("susy_id", susy_id, 2**16),
    ):
        if not 0 <= value < limit:
            raise ValueError(f"{name} = {value} outside 0..{limit - 1}")
    items = [
        obis_item(IMPORT, TYPE_MOMENTARY, round(import_w * 10)),
        obis_item(IMPORT, TYPE_COUNTER, round(energy_import_kwh * WS_PER_KWH)),
        obis_item(EXPORT, TYPE_MOMENTARY, round(export_w * 10)),
        obis_item(EXPORT, TYPE_COUNTER, round(energy_export_kwh * WS_PER_KWH)),
    ]
    if frequency_hz is not None:
        items.append(obis_item(FREQUENCY, TYPE_MOMENTARY, round(frequency_hz * 1000)))
    for (imp, exp), (index_import, index_export) in zip(phases, PHASE_INDEXES, strict=False):
        items.append(power_items(index_import, index_export, imp, exp))
    major, minor, build, letter = firmware
    items.append(bytes((CHANNEL_FIRMWARE, 0, 0, 0, major, minor, build, ord(letter))))
    body = struct.pack(">HHII", protocol, susy_id, serial, ticker_ms) + b"".join(items)
    return (
        SIGNATURE
        + struct.pack(">HHI", 4, TAG_GROUP, 1)
        + struct.pack(">HH", len(body), TAG_DATA)
        + body
        + bytes(4)
    )


def split_power(power_w: float) -> tuple[float, float]:
    """A signed power (+ = import) as the meter's (import_w, export_w) pair."""
    return (power_w, 0.0) if power_w >= 0 else (0.0, -power_w)
