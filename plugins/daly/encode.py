"""Encode a Daly BMS's state into its reply frames: the inverse of :mod:`daly.decode` (for the simulator).

Pure. :func:`reply_frames` gives the frames a unit sends for one data id, with reserved bytes and the
unused slots of the last 0x95/0x96 frame filled from ``stale`` (the data bytes of the unit's previous
reply), as real units do.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import CELLS_PER_FRAME, CURRENT_OFFSET, FAILURE_NAMES, PROBES_PER_FRAME, TEMPERATURE_OFFSET
from .protocol import build_reply

STATE_CODES = {"stationary": 0, "charging": 1, "discharging": 2}


@dataclass(frozen=True, slots=True)
class DalyState:
    """What a Daly unit reports; ``current_a`` is + while charging."""

    cell_voltages_v: tuple[float, ...]
    temperatures_c: tuple[float, ...]
    voltage_v: float
    current_a: float
    soc_pct: float
    state: str = "stationary"
    charge_mosfet_on: bool = True
    discharge_mosfet_on: bool = True
    bms_life: int = 0
    remaining_capacity_ah: float = 0.0
    charger_connected: bool = False
    load_connected: bool = False
    io_bits: int = 0
    cycle_count: int = 0
    failures: tuple[str, ...] = ()
    fault_code: int = 0
    inverted_current: bool = False  # the minority units: raw above 30000 while charging


def _u16(value: float) -> bytes:
    return max(0, min(0xFFFF, round(value))).to_bytes(2, "big")


def _u8(value: float) -> int:
    return max(0, min(0xFF, round(value)))


def current_raw(state: DalyState) -> int:
    """The 0x90 raw current: 30000 - 10 x amps (+ = charging), or the opposite for an inverted unit."""
    tenths = round(state.current_a * 10)
    return CURRENT_OFFSET + tenths if state.inverted_current else CURRENT_OFFSET - tenths


def _extremes(values: tuple[float, ...]) -> tuple[int, int]:
    """1-based numbers of the highest and the lowest value (first of equals)."""
    hi = max(range(len(values)), key=lambda i: (values[i], -i))
    lo = min(range(len(values)), key=lambda i: (values[i], i))
    return hi + 1, lo + 1


def data_bytes(state: DalyState, data_id: int, stale: bytes) -> list[bytes]:
    """The 8-byte data sections of the reply to ``data_id`` (several for 0x95/0x96)."""
    cells, temps = state.cell_voltages_v, state.temperatures_c
    if data_id == 0x90:
        return [_u16(state.voltage_v * 10) + bytes(2) + _u16(current_raw(state)) + _u16(state.soc_pct * 10)]
    if data_id == 0x91:
        hi, lo = _extremes(cells)
        return [
            _u16(cells[hi - 1] * 1000) + bytes((hi,)) + _u16(cells[lo - 1] * 1000) + bytes((lo,)) + stale[6:8]
        ]
    if data_id == 0x92:
        hi, lo = _extremes(temps) if temps else (1, 1)
        t_hi = temps[hi - 1] if temps else -TEMPERATURE_OFFSET
        t_lo = temps[lo - 1] if temps else -TEMPERATURE_OFFSET
        return [bytes((_u8(t_hi + TEMPERATURE_OFFSET), hi, _u8(t_lo + TEMPERATURE_OFFSET), lo)) + stale[4:8]]
    if data_id == 0x93:
        head = bytes((STATE_CODES[state.state], int(state.charge_mosfet_on), int(state.discharge_mosfet_on)))
        mah = max(0, round(state.remaining_capacity_ah * 1000))
        return [head + bytes((state.bms_life & 0xFF,)) + mah.to_bytes(4, "big")]
    if data_id == 0x94:
        flags = bytes((len(cells), len(temps), int(state.charger_connected), int(state.load_connected)))
        return [flags + bytes((state.io_bits & 0xFF,)) + _u16(state.cycle_count) + stale[7:8]]
    if data_id == 0x95:
        return _cell_frames(cells, stale)
    if data_id == 0x96:
        return _probe_frames(temps)
    if data_id == 0x97:
        return [bytes(8)]  # balancing is not modelled (its bit order is not established)
    if data_id == 0x98:
        bits = sum(1 << FAILURE_NAMES.index(name) for name in state.failures)
        return [bits.to_bytes(7, "little") + bytes((state.fault_code & 0xFF,))]
    return []


def _cell_frames(cells: tuple[float, ...], stale: bytes) -> list[bytes]:
    """3 cells a frame; the last frame's unused slots repeat earlier cells (stale, as units send)."""
    values = [round(v * 1000) for v in cells]
    frames: list[bytes] = []
    for number, first in enumerate(range(0, len(values), CELLS_PER_FRAME), start=1):
        part = values[first : first + CELLS_PER_FRAME]
        part += (values[1:] + [0] * CELLS_PER_FRAME)[: CELLS_PER_FRAME - len(part)]
        frames.append(bytes((number,)) + b"".join(_u16(mv) for mv in part) + stale[7:8])
    return frames


def _probe_frames(temps: tuple[float, ...]) -> list[bytes]:
    raws = [_u8(t + TEMPERATURE_OFFSET) for t in temps]
    frames: list[bytes] = []
    for number, first in enumerate(range(0, max(1, len(raws)), PROBES_PER_FRAME), start=1):
        part = raws[first : first + PROBES_PER_FRAME]
        part += [0x00] * (PROBES_PER_FRAME - len(part))  # unused probe slots read 0x00
        frames.append(bytes((number, *part)))
    return frames


def reply_frames(state: DalyState, data_id: int, board: int = 1, stale: bytes = bytes(8)) -> list[bytes]:
    """The complete frames a unit at ``board`` sends for ``data_id`` (empty for an id it lacks)."""
    return [build_reply(data_id, data, board) for data in data_bytes(state, data_id, stale)]
