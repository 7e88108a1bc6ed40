"""Encode a :class:`JkStatus` as a JK reply frame (the simulator's voice; the decoder's inverse).

Pure. Ids the status does not carry (delays, temperature protections, ...) get the values of a real
16-cell JK-BD6A17S6P reply. With ``protocol_version=None`` the reply ends after 0xB7, like firmware
NW_1_0_0_200428, and the current uses the old offset encoding.
"""

from __future__ import annotations

from .decode import CELLS, JkStatus
from .protocol import COMMAND_READ_ALL, SOURCE_BMS, TRANSPORT_REPLY, build_frame

#: Fixed values of the ids a status does not carry, as raw bytes (from the 16S reference reply).
FIXED: dict[int, bytes] = {
    0x86: b"\x02", 0x92: b"\x00\x05", 0x95: b"\x00\x05", 0x98: b"\x01\x2c", 0x9A: b"\x00\x1e",
    0x9D: b"\x01", 0x9E: b"\x00\x5a", 0x9F: b"\x00\x46", 0xA0: b"\x00\x64", 0xA1: b"\x00\x64",
    0xA2: b"\x00\x14", 0xA3: b"\x00\x46", 0xA4: b"\x00\x46", 0xA5: b"\x00\x00", 0xA6: b"\x00\x05",
    0xA7: b"\xff\xec", 0xA8: b"\xff\xf6", 0xAD: b"\x02\xd5", 0xAE: b"\x01", 0xAF: b"\x01",
    0xB0: b"\x00\x0a", 0xB1: b"\x14", 0xB2: b"123456\x00\x00\x00\x00", 0xB3: b"\x00",
    0xB6: b"\x00\x01\x64\x00", 0xB8: b"\x00",
}  # fmt: skip

#: Id order of a real reply; the old firmware stops after 0xB7.
ORDER = (
    CELLS, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x89, 0x8A, 0x8B, 0x8C, 0x8E, 0x8F,
    *range(0x90, 0xB8),
)  # fmt: skip
NEW_FIRMWARE_TAIL = (0xB8, 0xB9, 0xBA, 0xC0)


def encode_temperature(celsius: float) -> int:
    """°C -> 0x80-0x82 code (0..99 as is, -1..-40 as 100 - t). :raises ValueError: outside -40..99."""
    value = round(celsius)
    if not -40 <= value <= 99:
        raise ValueError(f"temperature {celsius} °C cannot be encoded (-40..99)")
    return value if value >= 0 else 100 - value


def encode_current(amps: float, protocol_version: int | None) -> int:
    """Amps (+ = charging) -> 0x84 raw, v1 sign-magnitude or v0 offset 10000."""
    centi = round(amps * 100)
    if protocol_version == 1:
        if abs(centi) > 0x7FFF:
            raise ValueError(f"current {amps} A exceeds the v1 range")
        return abs(centi) | (0x8000 if centi > 0 else 0)
    raw = 10000 - centi
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"current {amps} A exceeds the v0 range")
    return raw


def _u(value: float | None, width: int, default: int = 0) -> bytes:
    return (default if value is None else round(value)).to_bytes(width, "big")


def _ascii(text: str | None, width: int) -> bytes:
    return (text or "").encode("ascii", errors="replace")[:width].ljust(width, b"\x00")


def encode_records(status: JkStatus) -> dict[int, bytes]:
    """Every id's value bytes for ``status`` (0x79 includes its length byte)."""
    n = status.cell_count
    cells = bytes((3 * n,)) + b"".join(
        bytes((i,)) + round(v * 1000).to_bytes(2, "big")
        for i, v in enumerate(status.cell_voltages_v, start=1)
    )
    mv = 1000.0
    records = dict(FIXED)
    records.update({
        CELLS: cells,
        0x80: _u(encode_temperature(status.mosfet_temperature_c), 2),
        0x81: _u(encode_temperature(status.t1_temperature_c), 2),
        0x82: _u(encode_temperature(status.t2_temperature_c), 2),
        0x83: _u(status.voltage_v * 100, 2),
        0x84: _u(encode_current(status.current_a, status.protocol_version), 2),
        0x85: _u(status.soc_pct, 1),
        0x87: _u(status.cycle_count, 2),
        0x89: _u(status.total_cycle_capacity_ah, 4),
        0x8A: _u(n, 2),
        0x8B: _u(status.alarm_word, 2),
        0x8C: _u(status.status_word, 2),
        0x8E: _u(None if status.pack_ovp_v is None else status.pack_ovp_v * 100, 2, 365 * n),
        0x8F: _u(None if status.pack_uvp_v is None else status.pack_uvp_v * 100, 2, 265 * n),
        0x90: _u(None if status.cell_ovp_v is None else status.cell_ovp_v * mv, 2, 3650),
        0x91: _u(None if status.cell_ovp_recovery_v is None else status.cell_ovp_recovery_v * mv, 2, 3550),
        0x93: _u(None if status.cell_uvp_v is None else status.cell_uvp_v * mv, 2, 2650),
        0x94: _u(None if status.cell_uvp_recovery_v is None else status.cell_uvp_recovery_v * mv, 2, 2750),
        0x96: _u(
            None if status.cell_difference_protection_v is None else status.cell_difference_protection_v * mv,
            2,
            300,
        ),
        0x97: _u(status.discharge_ocp_a, 2, 60),
        0x99: _u(status.charge_ocp_a, 2, 30),
        0x9B: _u(None if status.balance_start_v is None else status.balance_start_v * mv, 2, 3450),
        0x9C: _u(None if status.balance_trigger_v is None else status.balance_trigger_v * mv, 2, 10),
        0xA9: _u(n, 1),
        0xAA: _u(status.capacity_ah, 4),
        0xAB: _u(status.status_word & 1, 1),
        0xAC: _u(status.status_word >> 1 & 1, 1),
        0xB4: _ascii(status.device_id, 8),
        0xB5: _ascii(status.production_date, 4),
        0xB7: _ascii(status.software_version, 15),
        0xB9: _u(status.actual_capacity_ah, 4),
        0xBA: _ascii(status.manufacturer_id, 24),
        0xC0: _u(status.protocol_version, 1),
    })  # fmt: skip
    return records


def encode_data(status: JkStatus) -> bytes:
    """The data section of a read-all reply for ``status``, ids in the order a real BMS sends them."""
    records = encode_records(status)
    order = ORDER + (NEW_FIRMWARE_TAIL if status.protocol_version is not None else ())
    return b"".join(bytes((data_id,)) + records[data_id] for data_id in order)


def encode_reply(status: JkStatus, *, command: int = COMMAND_READ_ALL) -> bytes:
    """A complete, checksummed reply frame for ``status`` (``command`` echoes the request's)."""
    return build_frame(encode_data(status), command=command, source=SOURCE_BMS, transport=TRANSPORT_REPLY)
