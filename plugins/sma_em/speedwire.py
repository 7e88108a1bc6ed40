"""Decode SMA Energy Meter / Sunny Home Manager datagrams (Speedwire, protocol 0x6069). Pure.

Layout (big-endian; offsets from the first byte)::

    0   "SMA\\0"                       signature
    4   00 04  02 A0  00 00 00 01      tag 0x02A0 (length 4): the group, 1 = default
    12  L      00 10                   tag 0x0010 "SMA Net 2" (length L: from the protocol id on)
    16  60 69                          protocol id 0x6069: energy meter
    18  SUSy id (2)  serial (4)  ticker (4, ms, wraps)
    28  OBIS items until 16 + L: channel, index, type, tariff (1 byte each), then the value:
        type 4 = momentary value, u32; type 8 = counter, u64; channel 0x90 = firmware, 4 bytes
    16+L  00 00  00 00                 end tag

An EM 1.0 sends L = 580 (600 bytes), a Home Manager 2.0 also the grid frequency (L = 588). Power
items are in 0.1 W, counters in Ws. Index 1/2 = total active power import (+P) / export (-P);
21/22, 41/42, 61/62 = the same for L1, L2, L3; 14 = frequency in mHz.

:func:`decode` refuses, with a :class:`SpeedwireError` naming a ``reason`` of :data:`REASONS`,
anything that is not such a datagram: another protocol, a truncated or over-long one, an OBIS item
of unknown width, a duplicate or missing item, an absurd power.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SIGNATURE = b"SMA\x00"
TAG_GROUP = 0x02A0
TAG_DATA = 0x0010
PROTOCOL_EM = 0x6069
#: Protocol ids seen on the Speedwire port that are not an energy meter's.
OTHER_PROTOCOLS = {0x6065: "inverter"}
HEADER_SIZE = 12  # protocol id, SUSy id, serial, ticker: the data tag's fixed part
CHANNEL_FIRMWARE = 0x90
TYPE_MOMENTARY, TYPE_COUNTER = 4, 8
IMPORT, EXPORT, FREQUENCY = 1, 2, 14
#: (import index, export index) of the active power of L1, L2, L3.
PHASE_INDEXES = ((21, 22), (41, 42), (61, 62))
#: Largest active power believed (1 MW; a house connection is some 10-50 kW).
MAX_POWER_W = 1_000_000.0
WS_PER_KWH = 3_600_000

#: OBIS items by (channel, index, type, tariff): a number, or the firmware's 4 raw bytes.
Items = dict[tuple[int, int, int, int], int | bytes]

#: Why a datagram is refused.
REASONS = ("foreign", "truncated", "length", "protocol", "obis", "duplicate", "missing", "implausible")


class SpeedwireError(ValueError):
    """A datagram that is not a valid energy meter datagram; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PhasePower:
    """One phase's active power: import and export in W (both >= 0), ``phase`` 1..3."""

    phase: int
    import_w: float
    export_w: float

    @property
    def power_w(self) -> float:
        """Import minus export: positive while this phase draws from the grid."""
        return round(self.import_w - self.export_w, 1) + 0.0


@dataclass(frozen=True, slots=True)
class EmDatagram:
    """What one energy meter datagram says (W, kWh, Hz); absent items are ``None`` or left out."""

    susy_id: int
    serial: int
    ticker_ms: int
    import_w: float
    export_w: float
    phases: tuple[PhasePower, ...] = ()
    energy_import_kwh: float | None = None
    energy_export_kwh: float | None = None
    frequency_hz: float | None = None
    firmware: str | None = None

    @property
    def grid_power_w(self) -> float:
        """Import minus export: positive while the house draws from the grid."""
        return round(self.import_w - self.export_w, 1) + 0.0


def obis_name(channel: int, index: int, kind: int, tariff: int) -> str:
    """``channel:index.type.tariff``, e.g. ``0:1.4.0`` (total active power import)."""
    return f"{channel}:{index}.{kind}.{tariff}"


def split_tags(data: bytes) -> dict[int, bytes]:
    """The tags of a Speedwire datagram by id, checking the signature and the end tag.

    :raises SpeedwireError: not ``SMA\\0``, a tag running past the end, no end tag, bytes after it.
    """
    if len(data) < len(SIGNATURE) or data[:4] != SIGNATURE:
        raise SpeedwireError("foreign", f"does not start with SMA\\0 (starts with {data[:4].hex(' ')})")
    tags: dict[int, bytes] = {}
    offset = len(SIGNATURE)
    while True:
        if offset + 4 > len(data):
            raise SpeedwireError("truncated", f"{len(data)} bytes end before the end tag (00 00 00 00)")
        length, tag = struct.unpack_from(">HH", data, offset)
        if length == 0 and tag == 0:
            break
        end = offset + 4 + length
        if end > len(data):
            remain = len(data) - offset - 4
            raise SpeedwireError(
                "truncated", f"tag 0x{tag:04X} at offset {offset} needs {length} bytes, {remain} remain"
            )
        if tag in tags:
            raise SpeedwireError("duplicate", f"tag 0x{tag:04X} appears twice")
        tags[tag] = data[offset + 4 : end]
        offset = end
    if offset + 4 != len(data):
        raise SpeedwireError(
            "length", f"{len(data) - offset - 4} bytes follow the end tag at offset {offset}"
        )
    return tags


def walk_obis(body: bytes, first_offset: int) -> Items:
    """The OBIS items of a data tag's body: ``{(channel, index, type, tariff): value}``.

    :raises SpeedwireError: an item of unknown width, running past the tag, or twice.
    """
    items: Items = {}
    offset = 0
    while offset < len(body):
        at = first_offset + offset
        if offset + 4 > len(body):
            stray = len(body) - offset
            raise SpeedwireError("length", f"{stray} stray bytes at offset {at} (an OBIS id has 4)")
        key = (body[offset], body[offset + 1], body[offset + 2], body[offset + 3])
        if key[0] == CHANNEL_FIRMWARE:
            width = 4
        elif key[2] in (TYPE_MOMENTARY, TYPE_COUNTER):
            width = key[2]
        else:
            raise SpeedwireError(
                "obis", f"OBIS {obis_name(*key)} at offset {at} has type {key[2]}: unknown width, not guessed"
            )
        end = offset + 4 + width
        if end > len(body):
            raise SpeedwireError("length", f"OBIS {obis_name(*key)} at offset {at} runs past the data tag")
        if key in items:
            raise SpeedwireError("duplicate", f"OBIS {obis_name(*key)} appears twice")
        raw = body[offset + 4 : end]
        items[key] = raw if key[0] == CHANNEL_FIRMWARE else int.from_bytes(raw, "big")
        offset = end
    return items


def decode(data: bytes) -> EmDatagram:
    """Decode one energy meter datagram. :raises SpeedwireError: with the reason it is refused."""
    tags = split_tags(bytes(data))
    if TAG_DATA not in tags:
        raise SpeedwireError("foreign", "no data tag 0x0010 (SMA Net 2): not a measurement datagram")
    group = tags.get(TAG_GROUP)
    if group is None or len(group) != 4:
        raise SpeedwireError("foreign", "no group tag 0x02A0 of 4 bytes: not an SMA Net 2 datagram")
    body = tags[TAG_DATA]
    if len(body) < 2:
        raise SpeedwireError("length", f"data tag of {len(body)} bytes has no protocol id")
    protocol = int.from_bytes(body[:2], "big")
    if protocol != PROTOCOL_EM:
        what = OTHER_PROTOCOLS.get(protocol, "unknown")
        raise SpeedwireError(
            "protocol", f"protocol id 0x{protocol:04X} ({what}) is not the energy meter's 0x{PROTOCOL_EM:04X}"
        )
    if len(body) < HEADER_SIZE:
        raise SpeedwireError(
            "length", f"data tag of {len(body)} bytes is shorter than its {HEADER_SIZE}-byte header"
        )
    susy_id, serial, ticker = struct.unpack_from(">HII", body, 2)
    items = walk_obis(body[HEADER_SIZE:], 16 + HEADER_SIZE)
    return EmDatagram(
        susy_id=susy_id,
        serial=serial,
        ticker_ms=ticker,
        import_w=_power(items, IMPORT),
        export_w=_power(items, EXPORT),
        phases=tuple(
            PhasePower(n, _power(items, imp), _power(items, exp))
            for n, (imp, exp) in enumerate(PHASE_INDEXES, start=1)
            if (0, imp, TYPE_MOMENTARY, 0) in items and (0, exp, TYPE_MOMENTARY, 0) in items
        ),
        energy_import_kwh=_energy(items, IMPORT),
        energy_export_kwh=_energy(items, EXPORT),
        frequency_hz=_scaled(items, (0, FREQUENCY, TYPE_MOMENTARY, 0), 1000),
        firmware=_firmware(items),
    )


def _power(items: Items, index: int) -> float:
    key = (0, index, TYPE_MOMENTARY, 0)
    if key not in items:
        raise SpeedwireError("missing", f"no OBIS {obis_name(*key)} (active power) in the datagram")
    watts = _scaled(items, key, 10)
    assert watts is not None
    if watts > MAX_POWER_W:
        raise SpeedwireError(
            "implausible", f"OBIS {obis_name(*key)} says {watts:g} W (above {MAX_POWER_W:g} W)"
        )
    return watts


def _energy(items: Items, index: int) -> float | None:
    value = items.get((0, index, TYPE_COUNTER, 0))
    return None if not isinstance(value, int) else round(value / WS_PER_KWH, 6)


def _scaled(items: Items, key: tuple[int, int, int, int], divisor: int) -> float | None:
    value = items.get(key)
    return None if not isinstance(value, int) else round(value / divisor, 3)


def _firmware(items: Items) -> str | None:
    raw = items.get((CHANNEL_FIRMWARE, 0, 0, 0))
    if not isinstance(raw, bytes):
        return None
    letter = chr(raw[3]) if 0x20 < raw[3] < 0x7F else f"{raw[3]}"
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{letter}"
