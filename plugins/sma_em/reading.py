"""Map a decoded :class:`EmDatagram` onto the core :class:`MeterReading` and the CLI's JSON. Pure."""

from __future__ import annotations

from typing import Any

from gateway_core.model import MeterReading

from .speedwire import EmDatagram


def phase_powers(datagram: EmDatagram) -> tuple[float, ...]:
    """Per-phase net powers (W, + = import) for L1.. in order, only while no phase is missing."""
    powers: list[float] = []
    for expected, phase in enumerate(datagram.phases, start=1):
        if phase.phase != expected:
            break
        powers.append(phase.power_w)
    return tuple(powers)


def to_meter_reading(datagram: EmDatagram, meter_id: str, taken_at_s: float) -> MeterReading:
    """The core reading, stamped ``taken_at_s`` (the engine clock when the datagram arrived)."""
    return MeterReading(
        meter_id=meter_id,
        taken_at_s=taken_at_s,
        grid_power_w=datagram.grid_power_w,
        phase_powers_w=phase_powers(datagram),
        energy_import_kwh=datagram.energy_import_kwh,
        energy_export_kwh=datagram.energy_export_kwh,
    )


def to_json(datagram: EmDatagram) -> dict[str, Any]:
    """The documented keys of ``gateway sma_em decode`` (phases only where the datagram has them)."""
    return {
        "serial": datagram.serial,
        "susy_id": datagram.susy_id,
        "ticker_ms": datagram.ticker_ms,
        "grid_power_w": datagram.grid_power_w,
        "import_w": datagram.import_w,
        "export_w": datagram.export_w,
        "phases": {
            f"l{p.phase}": {"power_w": p.power_w, "import_w": p.import_w, "export_w": p.export_w}
            for p in datagram.phases
        },
        "energy_import_kwh": datagram.energy_import_kwh,
        "energy_export_kwh": datagram.energy_export_kwh,
        "frequency_hz": datagram.frequency_hz,
        "firmware": datagram.firmware,
    }


def summary(datagram: EmDatagram) -> str:
    """One line for ``gateway sma_em listen``."""
    flows = f"import {datagram.import_w:.1f}, export {datagram.export_w:.1f}"
    parts = [f"serial {datagram.serial}", f"grid {datagram.grid_power_w:+.1f} W ({flows})"]
    if datagram.phases:
        parts.append(" ".join(f"L{p.phase} {p.power_w:+.1f}" for p in datagram.phases) + " W")
    if datagram.energy_import_kwh is not None and datagram.energy_export_kwh is not None:
        parts.append(f"E+ {datagram.energy_import_kwh:.3f} kWh, E- {datagram.energy_export_kwh:.3f} kWh")
    return "  ".join(parts)
