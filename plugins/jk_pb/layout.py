"""Where each field of a JK02 cell-info record sits, in the 24-cell and the 32-cell layout (pure).

The two layouts share header and frame type and the record does not say which one it is: the 32S
layout has room for 32 cells, which shifts the cell-block fields by 16 bytes and everything from byte
112 on by 32. The device info decides (PB models and software 11 and later are 32S); a record read
with the wrong layout fails the decoder's plausibility checks (see :mod:`jk_pb.cellinfo`).
"""

from __future__ import annotations

from dataclasses import dataclass

LAYOUT_24S, LAYOUT_32S, LAYOUT_JK04 = "24s", "32s", "jk04"
LAYOUTS = (LAYOUT_24S, LAYOUT_32S, LAYOUT_JK04)


@dataclass(frozen=True, slots=True)
class Jk02Layout:
    """Byte offsets of one JK02 layout (``None``: the field does not exist in it)."""

    name: str
    cell_slots: int
    cell_mask: int
    average_cell: int
    delta_cell: int
    max_cell_index: int
    min_cell_index: int
    wire_resistance: int
    mosfet_temperature: int
    wire_alarm_mask: int
    voltage: int
    current: int
    t1: int
    t2: int
    alarm_bits: int
    alarm_width: int
    balance_current: int
    balancing_action: int
    soc: int
    remaining_capacity: int
    full_capacity: int
    cycles: int
    cycle_capacity: int
    soh: int
    runtime: int
    charge_mosfet: int
    discharge_mosfet: int
    precharge_mosfet: int | None
    temperature_presence: int | None
    heating: int | None
    mosfet2_temperature: int | None
    extra_temperatures: tuple[int, ...]


def _layout(name: str, cells: int, a: int, b: int) -> Jk02Layout:
    """Offsets from the 24S base: ``a`` is the shift inside the cell block, ``b`` from byte 112 on."""
    is_32 = name == LAYOUT_32S
    return Jk02Layout(
        name=name, cell_slots=cells, cell_mask=54 + a, average_cell=58 + a, delta_cell=60 + a,
        max_cell_index=62 + a, min_cell_index=63 + a, wire_resistance=64 + a,
        mosfet_temperature=112 + b if is_32 else 134, wire_alarm_mask=114 + b, voltage=118 + b,
        current=126 + b, t1=130 + b, t2=132 + b, alarm_bits=134 + b if is_32 else 136,
        alarm_width=4 if is_32 else 2, balance_current=138 + b, balancing_action=140 + b, soc=141 + b,
        remaining_capacity=142 + b, full_capacity=146 + b, cycles=150 + b, cycle_capacity=154 + b,
        soh=158 + b, runtime=162 + b, charge_mosfet=166 + b, discharge_mosfet=167 + b,
        precharge_mosfet=168 + b if is_32 else None, temperature_presence=182 + b if is_32 else None,
        heating=183 + b if is_32 else None, mosfet2_temperature=222 + b if is_32 else None,
        extra_temperatures=(224 + b, 226 + b) if is_32 else (),
    )  # fmt: skip


JK02_24S = _layout(LAYOUT_24S, 24, 0, 0)
JK02_32S = _layout(LAYOUT_32S, 32, 16, 32)
JK02 = {LAYOUT_24S: JK02_24S, LAYOUT_32S: JK02_32S}

#: Presence-mask bits (32S, byte 214): MOSFET probe, T1, T2, second MOSFET probe, T3, T4.
PRESENCE_BITS = {"mosfet": 0, "t1": 1, "t2": 2, "mosfet2": 3, "t3": 4, "t4": 5}


def layout_for_device(model: str, hardware_version: str, software_version: str) -> str:
    """The cell-info layout a device uses, from its device-info record.

    PB models and software 11 or later: 32S; hardware 3.x and the JK-B5A24S balancer: JK04;
    otherwise 24S. Unreadable versions give 32S (every PB unit is 32S).
    """
    if "PB" in model.upper():
        return LAYOUT_32S
    if "B5A24S" in model.upper() or _major(hardware_version) in range(0, 6):
        return LAYOUT_JK04
    major = _major(software_version)
    if major is None:
        return LAYOUT_32S
    return LAYOUT_32S if major >= 11 else LAYOUT_24S


def _major(version: str) -> int | None:
    head = version.strip().split(".", 1)[0]
    digits = "".join(ch for ch in head if ch.isdigit())
    return int(digits) if digits and digits == head.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") else None
