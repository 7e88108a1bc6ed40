"""The ``[limit_ladder]`` config section (stdlib only; imported at plugin registration).

Defaults reproduce the original script's documented LiFePO4 table (README, Dec 2023), with one fix:
a cell below 2.70 V gets a gentle 5 A recovery charge instead of full current. Ladders are lists of
``[threshold_v, amps]`` steps, highest threshold first; the first step whose threshold the cell
reaches wins, and ``*_below_a`` applies below the last step. The charge states (bulk, absorption,
float) default to a 16S LiFePO4 pack's usual values: 3.45 V per cell absorption, 3.375 V float.
Shape and cross-field checks live in :mod:`.validate`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gateway_core.settings import setting

from .validate import (
    MAX_AMPS,
    MAX_CELL_V,
    MIN_CELL_V,
    Ladder,
    check_derate,
    check_ladder,
    check_levels,
    check_state_dir,
    check_voltages,
    pairs,
)

MAX_WATTS = 100000.0

__all__ = ["MAX_AMPS", "MAX_CELL_V", "MIN_CELL_V", "Ladder", "LadderConfig"]


@dataclass(frozen=True, slots=True)
class LadderConfig:
    """Threshold ladders, hysteresis, caps, temperature windows, charge states and oscillation."""

    charge_ladder: tuple[tuple[float, float], ...] = setting(
        [[3.55, 0.0], [3.50, 2.0], [3.47, 15.0], [3.45, 30.0], [3.00, 60.0], [2.70, 30.0]],
        help="charge steps [threshold_v, amps] by the highest cell, highest threshold first",
    )
    charge_below_a: float = setting(
        5.0,
        min=0.0,
        max=MAX_AMPS,
        unit="A",
        help="charge current when the highest cell is below the last step",
    )
    discharge_ladder: tuple[tuple[float, float], ...] = setting(
        [[3.30, 60.0], [3.10, 50.0], [3.00, 30.0], [2.90, 10.0]],
        help="discharge steps [threshold_v, amps] by the lowest cell, highest threshold first",
    )
    discharge_below_a: float = setting(
        0.0,
        min=0.0,
        max=MAX_AMPS,
        unit="A",
        help="discharge current when the lowest cell is below the last step",
    )
    max_charge_current: float = setting(60.0, min=0.0, max=MAX_AMPS, unit="A", help="charge limit ceiling")
    max_discharge_current: float = setting(
        60.0, min=0.0, max=MAX_AMPS, unit="A", help="discharge limit ceiling"
    )
    respect_bms_limits: bool = setting(
        True, help="cap by the BMS's own over-current protection when reported"
    )
    charge_voltage_per_cell: float = setting(
        3.45,
        min=MIN_CELL_V,
        max=MAX_CELL_V,
        unit="V",
        help="CVL per cell (x cell count) in bulk and absorption",
    )
    discharge_voltage_per_cell: float = setting(
        3.15, min=MIN_CELL_V, max=MAX_CELL_V, unit="V", help="DVL per cell (x cell count)"
    )
    charge_voltage: float | None = setting(
        None,
        min=1.0,
        max=1000.0,
        unit="V",
        help="absolute CVL (bulk, absorption); overrides charge_voltage_per_cell; 2-4.5 V per cell",
    )
    discharge_voltage: float | None = setting(
        None,
        min=1.0,
        max=1000.0,
        unit="V",
        help="absolute DVL; overrides discharge_voltage_per_cell; 2-4.5 V per cell",
    )
    cells: int | None = setting(
        None,
        min=1,
        max=64,
        help="cells in series: absolute voltages are checked against it at start, and a reading "
        "with another count fails safe (not set: checked at decide time)",
    )
    charge_states: bool = setting(
        True,
        help="bulk -> absorption -> float charge states and the SOC the inverter sees "
        "(false: a fixed CVL and the BMS's SOC)",
    )
    absorption_hold_s: float = setting(
        900.0,
        min=0.0,
        max=86400.0,
        unit="seconds",
        help="the pack is full (float) once the tail current and the cell spread held this long at the CVL",
    )
    absorption_tail_current: float = setting(
        5.0, min=0.0, max=MAX_AMPS, unit="A", help="full needs the charge current at or below this"
    )
    absorption_max_delta_v: float = setting(
        0.015,
        min=0.0,
        max=0.5,
        unit="V",
        help="full needs the cell spread (highest - lowest) at or below this",
    )
    float_voltage_per_cell: float = setting(
        3.375, min=MIN_CELL_V, max=MAX_CELL_V, unit="V", help="CVL per cell (x cell count) in float"
    )
    rebulk_below_soc: float = setting(
        90.0,
        min=0.0,
        max=100.0,
        unit="%",
        help="back to bulk when the SOC falls below this (0: never by SOC)",
    )
    rebulk_below_cell_v: float = setting(
        3.30,
        min=MIN_CELL_V,
        max=MAX_CELL_V,
        unit="V",
        help="back to bulk when the lowest cell falls below this",
    )
    cell_target_v: float = setting(
        3.50,
        min=MIN_CELL_V,
        max=MAX_CELL_V,
        unit="V",
        help="while a cell is above this, the CVL is lowered by the excess x cell count (never below float)",
    )
    reported_soc_max: float = setting(
        98.0,
        min=50.0,
        max=100.0,
        unit="%",
        help="the SOC the inverter sees is at most this until float (then 100)",
    )
    state_dir: str = setting(
        "",
        help='directory of the policy memory file (one small JSON per pack); "": $STATE_DIRECTORY '
        "(systemd StateDirectory=), else not kept",
    )
    charge_rerise_below_v: float = setting(
        3.40,
        min=MIN_CELL_V,
        max=MAX_CELL_V,
        unit="V",
        help="charge limit rises again only while the highest cell is below this",
    )
    charge_rerise_max_soc: float = setting(
        99.0, min=0.0, max=100.0, unit="%", help="charge limit rises again only at or below this SOC"
    )
    charge_rerise_margin_v: float = setting(
        0.02,
        min=0.0,
        max=0.5,
        unit="V",
        help="the highest cell must clear a step's threshold by this to rise",
    )
    charge_hold_s: float = setting(
        2700.0,
        min=0.0,
        max=86400.0,
        unit="seconds",
        help="charge limit rises no sooner than this after a cut",
    )
    discharge_rerise_min_soc: float = setting(
        40.0, min=0.0, max=100.0, unit="%", help="discharge limit rises again only above this SOC"
    )
    discharge_rerise_margin_v: float = setting(
        0.05, min=0.0, max=0.5, unit="V", help="the lowest cell must clear a step's threshold by this to rise"
    )
    discharge_hold_s: float = setting(
        0.0,
        min=0.0,
        max=86400.0,
        unit="seconds",
        help="discharge limit rises no sooner than this after a cut",
    )
    ramp_a_per_s: float = setting(
        0.0, min=0.0, max=MAX_AMPS, unit="A/s", help="ramp rises at this rate (0 = jump at once)"
    )
    charge_min_temp_c: float = setting(0.0, min=-40.0, max=60.0, unit="°C", help="no charging below this")
    charge_max_temp_c: float = setting(50.0, min=0.0, max=80.0, unit="°C", help="no charging above this")
    charge_derate_cold: tuple[tuple[float, float], ...] = setting(
        [[5.0, 10.0], [10.0, 30.0]],
        help="pairs [below_c, max_amps]: charge at most max_amps while the coldest probe is below below_c",
    )
    charge_derate_hot: tuple[tuple[float, float], ...] = setting(
        [[45.0, 30.0]],
        help="pairs [above_c, max_amps]: charge at most max_amps while the hottest probe is above above_c",
    )
    discharge_min_temp_c: float = setting(
        -20.0, min=-40.0, max=60.0, unit="°C", help="no discharging below this"
    )
    discharge_max_temp_c: float = setting(
        60.0, min=0.0, max=80.0, unit="°C", help="no discharging above this"
    )
    temperature_margin_c: float = setting(
        2.0, min=0.0, max=20.0, unit="°C", help="a temperature stop ends only this far inside the window"
    )
    min_temperature_probes: int = setting(
        1, min=0, max=16, help="fewer battery probes than this means no charging (missing = unsafe)"
    )
    max_reading_age_s: float = setting(
        30.0, min=0.1, max=3600.0, unit="seconds", help="defence in depth: older readings give 0 A"
    )
    oscillation: bool = setting(True, help="detect inverters pushing the battery back and forth")
    oscillation_input: str = setting(
        "current",
        choices=("current", "grid_power"),
        help="what swings: the battery current, or the grid meter's power (needs [gateway] meter)",
    )
    oscillation_window_s: float = setting(
        20.0, min=1.0, max=3600.0, unit="seconds", help="sliding window of battery currents (or grid powers)"
    )
    oscillation_levels_a: tuple[float, ...] = setting(
        [12.0, 6.0], min=0.1, max=MAX_AMPS, unit="A", help="swing sizes: current beyond +level and -level"
    )
    oscillation_min_swings: int = setting(
        2, min=1, max=1000, help="sign swings (+level to -level or back) in the window that count"
    )
    oscillation_factor: float = setting(
        0.5, min=0.05, max=0.95, help="multiply the charge and discharge limits by this on a detection"
    )
    oscillation_interval_s: float = setting(
        20.0, min=1.0, max=3600.0, unit="seconds", help="at most one reduction or release step per interval"
    )
    oscillation_release_a: float = setting(
        3.0, min=0.1, max=MAX_AMPS, unit="A", help="release step per interval once the swings stop"
    )
    oscillation_floor_a: float = setting(
        5.0, min=0.0, max=MAX_AMPS, unit="A", help="a reduction never goes below this"
    )
    oscillation_grid_levels_w: tuple[float, ...] = setting(
        [150.0],
        min=1.0,
        max=MAX_WATTS,
        unit="W",
        help="grid_power input: swing sizes, grid power beyond +level and -level",
    )

    def __post_init__(self) -> None:
        for fld in dataclasses.fields(self):
            value = getattr(self, fld.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{fld.name} = {value!r}: only finite numbers are accepted")
        for name in ("charge_ladder", "discharge_ladder", "charge_derate_cold", "charge_derate_hot"):
            object.__setattr__(self, name, pairs(name, getattr(self, name)))
        for name in ("oscillation_levels_a", "oscillation_grid_levels_w"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        check_ladder("charge_ladder", self.charge_ladder)
        check_ladder("discharge_ladder", self.discharge_ladder)
        check_derate("charge_derate_cold", self.charge_derate_cold, descending=False)
        check_derate("charge_derate_hot", self.charge_derate_hot, descending=True)
        check_levels("oscillation_levels_a", self.oscillation_levels_a, 0.1, MAX_AMPS, "A")
        check_levels("oscillation_grid_levels_w", self.oscillation_grid_levels_w, 1.0, MAX_WATTS, "W")
        check_voltages(self)
        self._check_temperatures()
        check_state_dir(self.state_dir)

    def _check_temperatures(self) -> None:
        if self.charge_min_temp_c >= self.charge_max_temp_c:
            raise ValueError(
                f"charge_min_temp_c = {self.charge_min_temp_c:g} must be below "
                f"charge_max_temp_c = {self.charge_max_temp_c:g}"
            )
        if self.discharge_min_temp_c >= self.discharge_max_temp_c:
            raise ValueError(
                f"discharge_min_temp_c = {self.discharge_min_temp_c:g} must be below "
                f"discharge_max_temp_c = {self.discharge_max_temp_c:g}"
            )
