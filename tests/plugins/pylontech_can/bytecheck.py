"""An independent, struct-based reading of the Pylontech frames (no cantools, no DBC).

Written straight from the protocol tables (docs/pylontech.md), so the tests cross-check the DBC
files and cantools. ``variant`` selects the eight-byte (``"8"``) or Luxpower layouts.
"""

from __future__ import annotations

import struct
from typing import Any

#: 0x35A 2-bit fields in bit order (alarms in bytes 0-3, warnings in bytes 4-7).
FIELDS_35A = (
    "general", "high_voltage", "low_voltage", "high_temperature",
    "low_temperature", "high_temperature_charge", "low_temperature_charge", "high_discharge_current",
    "high_charge_current", "contactor", "short_circuit", "bms_internal",
    "cell_imbalance",
)  # fmt: skip
STATES = {0: "not_reported", 1: "raised", 2: "ok", 3: "invalid"}


def bit(data: bytes, byte: int, position: int) -> bool:
    """Bit ``position`` (0 = LSB) of byte ``byte``."""
    return bool(data[byte] >> position & 1)


def text(data: bytes) -> str:
    """ASCII, padding (spaces, NULs) removed."""
    return data.decode("ascii").rstrip(" \x00")


def check_decode(arbitration_id: int, data: bytes, variant: str | None = None) -> dict[str, Any]:
    """Physical values by hand: little-endian, scales 0.1 V / 0.1 A / 0.01 V / 0.1 degC."""
    if arbitration_id == 0x351:
        cvl, ccl, dcl = struct.unpack_from("<Hhh", data)
        out = {"cvl_v": cvl / 10, "ccl_a": ccl / 10, "dcl_a": dcl / 10}
        if len(data) >= 8:
            out["dvl_v"] = struct.unpack_from("<H", data, 6)[0] / 10
        return out
    if arbitration_id == 0x355:
        soc, soh = struct.unpack_from("<HH", data)
        out = {"soc_pct": soc, "soh_pct": soh}
        if variant == "8":
            hires, remaining = struct.unpack_from("<HH", data, 4)
            out.update(soc_hires_pct=hires / 100, remaining_ah=remaining / 10)
        elif variant == "luxpower":
            high, low = struct.unpack_from("<HH", data, 4)
            out.update(max_cell_v=high / 1000, min_cell_v=low / 1000)
        return out
    if arbitration_id == 0x356:
        volt, amp, temp = struct.unpack_from("<hhh", data)
        if variant == "luxpower":
            low = struct.unpack_from("<h", data, 6)[0]
            return {"voltage_v": volt / 100, "current_a": amp / 10, "max_t_c": temp / 10, "min_t_c": low / 10}
        out = {"voltage_v": volt / 100, "current_a": amp / 10, "temperature_c": temp / 10}
        if variant == "8":
            out["cycles"] = struct.unpack_from("<H", data, 6)[0]
        return out
    if arbitration_id == 0x359:
        out = {"protection": (data[0], data[1]), "alarm": (data[2], data[3]), "modules": data[4]}
        if variant == "luxpower":
            out.update(capacity_ah=struct.unpack_from("<H", data, 5)[0], dlc=len(data))
        else:
            out.update(pn=data[5:7].decode("ascii"), dlc=len(data))
        return out
    if arbitration_id == 0x35C:
        out = {
            "charge": bit(data, 0, 7),
            "discharge": bit(data, 0, 6),
            "force_1": bit(data, 0, 5),
            "force_2": bit(data, 0, 4),
            "full": bit(data, 0, 3),
            "byte1": data[1],
        }
        if variant == "luxpower":
            out["cycles"] = struct.unpack_from("<H", data, 2)[0]
        return out
    if arbitration_id == 0x35E:
        return {"name": data.decode("ascii")}
    if arbitration_id == 0x35A:
        word = int.from_bytes(data[:8].ljust(8, b"\x00"), "little")
        out = {}
        for kind, base in (("alarm", 0), ("warning", 32)):
            for index, name in enumerate(FIELDS_35A):
                out[f"{name}_{kind}"] = STATES[word >> (base + 2 * index) & 3]
        return out
    if arbitration_id == 0x35F:
        capacity, product = struct.unpack_from("<HH", data, 4)
        return {
            "chemistry": text(data[:2]),
            "version": (data[2], data[3]),
            "capacity_ah": capacity,
            "id": product,
        }
    if arbitration_id == 0x370:
        t_max, t_min, v_max, v_min = struct.unpack_from("<hhHH", data)
        return {
            "max_t_c": t_max / 10,
            "min_t_c": t_min / 10,
            "max_cell_v": v_max / 100,
            "min_cell_v": v_min / 100,
        }
    if arbitration_id in (0x371, 0x372):
        return {"words": struct.unpack_from("<HHHH", data)}
    if arbitration_id == 0x373:
        v_min, v_max, k_min, k_max = struct.unpack_from("<HHHH", data)
        return {
            "min_cell_v": v_min / 1000,
            "max_cell_v": v_max / 1000,
            "min_t_c": k_min - 273,
            "max_t_c": k_max - 273,
        }
    if 0x374 <= arbitration_id <= 0x377:
        return {"text": text(data)}
    if arbitration_id == 0x379:
        return {"installed_ah": struct.unpack_from("<H", data)[0]}
    raise KeyError(hex(arbitration_id))
