"""Pure: the signal values of the frames that carry measurements (0x355, 0x356, the extensions).

Built from the last plausible reading; ``fresh`` is False when no reading backs this cycle (the
current is then sent as 0 and 0x372 counts every module offline). ``None`` means the reading lacks
what the frame carries, so the frame is not sent.
"""

from __future__ import annotations

from gateway_core.model import BatteryReading

from . import extras
from .mapping import BLOCKS_CHARGE, BLOCKS_DISCHARGE

FrameValues = dict[str, float] | bytes | None

_MAKERS = {
    0x35F: extras.battery_info,
    0x370: extras.cell_extremes,
    0x371: extras.cell_extreme_ids,
    0x373: extras.cell_status,
    0x379: extras.installed_capacity,
}


def values(
    frame_id: int,
    variant: str | None,
    last: BatteryReading,
    *,
    fresh: bool,
    soc_pct: float,
    temperature_c: float,
    packs: int,
) -> FrameValues:
    """The DBC signal values (or, for 0x374-0x377, the payload) of one measurement frame."""
    if frame_id == 0x355:
        out: dict[str, float] = {"soc": soc_pct, "soh": last.soh_pct}
        if variant == "8":
            out.update(soc_high_resolution=soc_pct, remaining_capacity=extras.remaining_ah(last) or 0.0)
        elif variant == "luxpower":
            out.update(max_cell_voltage=last.max_cell_v, min_cell_voltage=last.min_cell_v)
        return out
    if frame_id == 0x356:
        out = {"voltage": last.voltage_v, "current": last.current_a if fresh else 0.0}
        if variant == "luxpower":
            probes = last.temperatures_c or (temperature_c,)
            out.update(max_cell_temperature=max(probes), min_cell_temperature=min(probes))
            return out
        out["temperature"] = temperature_c
        if variant == "8":
            out["cycle_count"] = last.cycle_count or 0
        return out
    if frame_id == 0x372:
        return extras.modules(
            packs,
            fresh=fresh,
            charge_blocked=not last.charge_enabled or bool(last.alarms & BLOCKS_CHARGE),
            discharge_blocked=not last.discharge_enabled or bool(last.alarms & BLOCKS_DISCHARGE),
        )
    if 0x374 <= frame_id <= 0x377:
        return extras.extreme_text(last, frame_id)
    return _MAKERS[frame_id](last)
