"""The pack's voltage limits for a reading's cell count: absorption, float and the DVL (pure).

Per-cell values are multiplied by the cell count; absolute ``charge_voltage``/``discharge_voltage``
override them, and are refused (``PolicyError``, so the cycle fails safe) when they are implausible
for the cell count, e.g. 552 V on 16 cells. With ``cells`` configured that check already ran at start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway_core.errors import PolicyError
from gateway_core.model import BatteryReading

from .config import LadderConfig
from .validate import per_cell_problem


@dataclass(frozen=True, slots=True)
class PackVoltages:
    """The CVL in bulk/absorption, the CVL in float and the DVL, each with how it was computed."""

    cells: int
    absorption_v: float
    absorption_how: str
    float_v: float
    float_how: str
    dvl_v: float
    dvl_how: str


def millivolts_down(volts: float) -> float:
    """``volts`` to whole millivolts, rounded down (a CVL never above per-cell x cells)."""
    return math.floor(volts * 1000 + 1e-6) / 1000


def pack_voltages(reading: BatteryReading, config: LadderConfig) -> PackVoltages:
    """The voltage limits for ``reading``'s cells. :raises PolicyError: implausible for the pack."""
    cells = reading.cell_count
    if config.cells is not None and cells != config.cells:
        raise PolicyError(
            f"the reading has {cells} cells, limit_ladder.cells = {config.cells}: "
            "voltage limits for another pack are refused"
        )
    for name in ("charge_voltage", "discharge_voltage"):
        volts = getattr(config, name)
        problem = None if volts is None else per_cell_problem(name, volts, cells)
        if problem:
            raise PolicyError(problem)
    if config.charge_voltage is not None:
        absorption, absorption_how = config.charge_voltage, "charge_voltage"
    else:
        absorption = millivolts_down(config.charge_voltage_per_cell * cells)
        absorption_how = f"{config.charge_voltage_per_cell:g} V x {cells} cells"
    float_v = millivolts_down(config.float_voltage_per_cell * cells)
    if config.charge_states and float_v >= absorption:
        raise PolicyError(
            f"float {float_v:g} V ({config.float_voltage_per_cell:g} V x {cells} cells) is not below "
            f"charge_voltage = {absorption:g} V"
        )
    if config.discharge_voltage is not None:
        dvl, dvl_how = config.discharge_voltage, "discharge_voltage"
    else:
        dvl = round(config.discharge_voltage_per_cell * cells, 3)
        dvl_how = f"{config.discharge_voltage_per_cell:g} V x {cells} cells"
    lowest_cvl = min(absorption, float_v) if config.charge_states else absorption
    if dvl >= lowest_cvl:
        raise PolicyError(f"DVL {dvl:g} V ({dvl_how}) is not below the CVL {lowest_cvl:g} V")
    return PackVoltages(
        cells,
        absorption,
        absorption_how,
        float_v,
        f"{config.float_voltage_per_cell:g} V x {cells} cells",
        dvl,
        dvl_how,
    )
