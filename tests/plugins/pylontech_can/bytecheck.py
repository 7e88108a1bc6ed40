"""An independent, struct-based reading of the Pylontech frames (no cantools, no DBC).

Written straight from the protocol table, so the tests cross-check the DBC and cantools.
"""

from __future__ import annotations

import struct
from typing import Any


def bit(data: bytes, byte: int, position: int) -> bool:
    """Bit ``position`` (0 = LSB) of byte ``byte``."""
    return bool(data[byte] >> position & 1)


def check_decode(arbitration_id: int, data: bytes) -> dict[str, Any]:
    """Physical values by hand: little-endian, scales 0.1 V / 0.1 A / 0.01 V / 0.1 degC."""
    if arbitration_id == 0x351:
        cvl, ccl, dcl = struct.unpack_from("<Hhh", data)
        out = {"cvl_v": cvl / 10, "ccl_a": ccl / 10, "dcl_a": dcl / 10}
        if len(data) >= 8:
            out["dvl_v"] = struct.unpack_from("<H", data, 6)[0] / 10
        return out
    if arbitration_id == 0x355:
        soc, soh = struct.unpack_from("<HH", data)
        return {"soc_pct": soc, "soh_pct": soh}
    if arbitration_id == 0x356:
        volt, amp, temp = struct.unpack_from("<hhh", data)
        return {"voltage_v": volt / 100, "current_a": amp / 10, "temperature_c": temp / 10}
    if arbitration_id == 0x359:
        return {
            "protection": (data[0], data[1]),
            "alarm": (data[2], data[3]),
            "modules": data[4],
            "pn": data[5:7].decode("ascii"),
            "dlc": len(data),
        }
    if arbitration_id == 0x35C:
        return {
            "charge": bit(data, 0, 7),
            "discharge": bit(data, 0, 6),
            "force_1": bit(data, 0, 5),
            "force_2": bit(data, 0, 4),
            "full": bit(data, 0, 3),
            "byte1": data[1],
        }
    if arbitration_id == 0x35E:
        return {"name": data.decode("ascii")}
    raise KeyError(hex(arbitration_id))
