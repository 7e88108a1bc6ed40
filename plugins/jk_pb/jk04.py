"""Decode the older JK04 cell-info record (hardware 3.x, the JK-B5A24S balancer): float32 cells (pure).

Same header and frame type as JK02. Cell ``i`` is an IEEE-754 float32 in volts at ``6 + 4i`` (24
slots), its wire resistance a float32 at ``102 + 4i``; average and delta at 202 and 206, the
balancing flag at 220, the balance current (float32) at 222, the runtime (u32) at 286. JK04 has no
current, SOC or temperature fields, so it gives no core reading, only :class:`Jk04CellInfo`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from gateway_core.errors import ImplausibleReply

from .records import CELL_INFO, Record

SLOTS = 24
MAX_CELL_V = 5.0


@dataclass(frozen=True, slots=True)
class Jk04CellInfo:
    """One JK04 cell-info record; the pack voltage is the sum of the cells."""

    counter: int
    cell_voltages_v: tuple[float, ...]
    wire_resistances_ohm: tuple[float, ...]
    average_cell_v: float
    delta_cell_v: float
    balancing: bool
    balance_current_a: float
    runtime_s: int

    @property
    def cell_count(self) -> int:
        """Cells that report a voltage."""
        return len(self.cell_voltages_v)

    @property
    def voltage_v(self) -> float:
        """Pack voltage: the sum of the cells (JK04 reports no pack voltage)."""
        return round(sum(self.cell_voltages_v), 4)


def _f32(raw: bytes, at: int) -> float:
    return float(struct.unpack_from("<f", raw, at)[0])


def decode_jk04_cell_info(record: Record) -> Jk04CellInfo:
    """Decode a JK04 cell-info ``record``. :raises ImplausibleReply: a cell is not a voltage."""
    if record.frame_type != CELL_INFO:
        raise ValueError(f"a {record.kind} record is no cell-info record")
    raw = record.raw
    slots = [_f32(raw, 6 + 4 * i) for i in range(SLOTS)]
    for index, volts in enumerate(slots):
        if not math.isfinite(volts) or not 0.0 <= volts <= MAX_CELL_V:
            raise ImplausibleReply(
                f"JK04 cell slot {index + 1} holds {volts!r}, not a voltage of 0-{MAX_CELL_V:g} V"
            )
    enabled = [i for i, volts in enumerate(slots) if volts > 0]
    if not enabled:
        raise ImplausibleReply("JK04 record with no cell reporting a voltage")
    if enabled != list(range(len(enabled))):
        raise ImplausibleReply(f"JK04 cells {[i + 1 for i in enabled]} are not cells 1..N")
    values = [_f32(raw, at) for at in (202, 206, 222)]
    if not all(math.isfinite(v) and abs(v) < 1000 for v in values):
        raise ImplausibleReply(f"JK04 average/delta/balance current {values} are not numbers")
    return Jk04CellInfo(
        counter=record.counter,
        cell_voltages_v=tuple(round(slots[i], 4) for i in enabled),
        wire_resistances_ohm=tuple(round(_f32(raw, 102 + 4 * i), 4) for i in enabled),
        average_cell_v=round(values[0], 4),
        delta_cell_v=round(values[1], 4),
        balancing=raw[220] != 0,
        balance_current_a=round(values[2], 3),
        runtime_s=int(struct.unpack_from("<I", raw, 286)[0]),
    )
