"""Pure physical-plausibility check of a reading, done by the engine before any policy sees it."""

from __future__ import annotations

from .model import BatteryReading

MIN_CELL_V = 1.0
MAX_CELL_V = 4.5
MAX_CELLS = 64
#: Pack voltage may differ from the sum of cells by this fraction (wiring, rounding, sampling time).
PACK_TOLERANCE = 0.05
PACK_TOLERANCE_V = 0.5
MIN_TEMPERATURE_C = -50.0
MAX_TEMPERATURE_C = 120.0
MAX_CURRENT_A = 5000.0


def implausibility(reading: BatteryReading) -> str | None:
    """Return why ``reading`` cannot be physical, or ``None`` when it can."""
    cells = reading.cell_voltages_v
    if not cells:
        return "no cell voltages"
    if len(cells) > MAX_CELLS:
        return f"{len(cells)} cells (more than {MAX_CELLS})"
    for number, cell in enumerate(cells, start=1):
        if not MIN_CELL_V <= cell <= MAX_CELL_V:
            return f"cell {number} at {cell:.3f} V is outside {MIN_CELL_V}-{MAX_CELL_V} V"
    cell_sum = sum(cells)
    allowed = max(PACK_TOLERANCE * cell_sum, PACK_TOLERANCE_V)
    if abs(reading.voltage_v - cell_sum) > allowed:
        return f"pack {reading.voltage_v:.2f} V disagrees with its cells' sum {cell_sum:.2f} V"
    if not 0.0 <= reading.soc_pct <= 100.0:
        return f"SOC {reading.soc_pct:g} % is outside 0-100 %"
    if not 0.0 <= reading.soh_pct <= 100.0:
        return f"SOH {reading.soh_pct:g} % is outside 0-100 %"
    if abs(reading.current_a) > MAX_CURRENT_A:
        return f"current {reading.current_a:g} A is beyond {MAX_CURRENT_A:g} A"
    temps = list(reading.temperatures_c)
    if reading.bms_temperature_c is not None:
        temps.append(reading.bms_temperature_c)
    for temp in temps:
        if not MIN_TEMPERATURE_C <= temp <= MAX_TEMPERATURE_C:
            return f"temperature {temp:g} °C is outside {MIN_TEMPERATURE_C:g}-{MAX_TEMPERATURE_C:g} °C"
    return None
