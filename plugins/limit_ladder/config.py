"""The ``[limit_ladder]`` config section (stdlib only; imported at plugin registration).

Defaults reproduce the original script's documented LiFePO4 table (README, Dec 2023), with one fix:
a cell below 2.70 V gets a gentle 5 A recovery charge instead of full current. Ladders are lists of
``[threshold_v, amps]`` steps, highest threshold first; the first step whose threshold the cell
reaches wins, and ``*_below_a`` applies below the last step.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gateway_core.settings import setting

#: Plausible LiFePO4 / Li-ion cell range for ladder thresholds and per-cell voltages.
MIN_CELL_THRESHOLD_V = 2.0
MAX_CELL_THRESHOLD_V = 4.5
MAX_AMPS = 1000.0

Ladder = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class LadderConfig:
    """Threshold ladders, hysteresis, caps, temperature windows and oscillation counteraction."""

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
        3.45, min=MIN_CELL_THRESHOLD_V, max=MAX_CELL_THRESHOLD_V, unit="V", help="CVL per cell (x cell count)"
    )
    discharge_voltage_per_cell: float = setting(
        3.15, min=MIN_CELL_THRESHOLD_V, max=MAX_CELL_THRESHOLD_V, unit="V", help="DVL per cell (x cell count)"
    )
    charge_voltage: float | None = setting(
        None, min=1.0, max=1000.0, unit="V", help="absolute CVL; overrides charge_voltage_per_cell"
    )
    discharge_voltage: float | None = setting(
        None, min=1.0, max=1000.0, unit="V", help="absolute DVL; overrides discharge_voltage_per_cell"
    )
    charge_rerise_below_v: float = setting(
        3.40,
        min=MIN_CELL_THRESHOLD_V,
        max=MAX_CELL_THRESHOLD_V,
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
    oscillation_window_s: float = setting(
        20.0, min=1.0, max=3600.0, unit="seconds", help="sliding window of battery currents"
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

    def __post_init__(self) -> None:
        for fld in dataclasses.fields(self):
            value = getattr(self, fld.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{fld.name} = {value!r}: only finite numbers are accepted")
        for name in ("charge_ladder", "discharge_ladder", "charge_derate_cold", "charge_derate_hot"):
            object.__setattr__(self, name, _pairs(name, getattr(self, name)))
        object.__setattr__(self, "oscillation_levels_a", tuple(float(v) for v in self.oscillation_levels_a))
        _check_ladder("charge_ladder", self.charge_ladder)
        _check_ladder("discharge_ladder", self.discharge_ladder)
        _check_derate("charge_derate_cold", self.charge_derate_cold, descending=False)
        _check_derate("charge_derate_hot", self.charge_derate_hot, descending=True)
        if self.discharge_voltage_per_cell >= self.charge_voltage_per_cell:
            raise ValueError(
                f"discharge_voltage_per_cell = {self.discharge_voltage_per_cell:g} V must be below "
                f"charge_voltage_per_cell = {self.charge_voltage_per_cell:g} V"
            )
        if (
            self.charge_voltage is not None
            and self.discharge_voltage is not None
            and self.discharge_voltage >= self.charge_voltage
        ):
            raise ValueError(
                f"discharge_voltage = {self.discharge_voltage:g} V must be below "
                f"charge_voltage = {self.charge_voltage:g} V"
            )
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
        for name, value in (
            ("oscillation_levels_a", self.oscillation_levels_a),
            ("charge_ladder", tuple(a for _, a in self.charge_ladder)),
            ("discharge_ladder", tuple(a for _, a in self.discharge_ladder)),
        ):
            for number in value:
                if not math.isfinite(number):
                    raise ValueError(f"{name} holds {number!r}; only finite numbers are accepted")
        if not self.oscillation_levels_a:
            raise ValueError("oscillation_levels_a needs at least one swing size, e.g. [12.0, 6.0]")
        for level in self.oscillation_levels_a:
            if not 0 < level <= MAX_AMPS:
                raise ValueError(
                    f"oscillation_levels_a: {level:g} A is out of range; accepted: 0.1 to 1000 A"
                )


def _pairs(name: str, value: object) -> Ladder:
    """Normalise a list of pairs to a tuple of float pairs; refuse other shapes."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of [number, number] pairs, not {value!r}")
    out: list[tuple[float, float]] = []
    for index, pair in enumerate(value, start=1):
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
        ):
            raise ValueError(f"{name} step {index} is {pair!r}; expected a pair [number, number]")
        out.append((float(pair[0]), float(pair[1])))
    return tuple(out)


def _check_ladder(name: str, ladder: Ladder) -> None:
    """Refuse empty, unordered, out-of-range ladders and negative amps, naming the step."""
    if not ladder:
        raise ValueError(f"{name} needs at least one [threshold_v, amps] step")
    previous: float | None = None
    for index, (threshold, amps) in enumerate(ladder, start=1):
        step = f"{name} step {index} [{threshold:g}, {amps:g}]"
        if not math.isfinite(threshold) or not MIN_CELL_THRESHOLD_V <= threshold <= MAX_CELL_THRESHOLD_V:
            raise ValueError(
                f"{step}: threshold {threshold:g} V is outside "
                f"{MIN_CELL_THRESHOLD_V:g}-{MAX_CELL_THRESHOLD_V:g} V"
            )
        if not math.isfinite(amps) or amps < 0 or amps > MAX_AMPS:
            raise ValueError(f"{step}: {amps:g} A is out of range; accepted: 0 to {MAX_AMPS:g} A")
        if previous is not None and threshold >= previous:
            raise ValueError(
                f"{step}: threshold {threshold:g} V is not below the previous step's {previous:g} V; "
                "list steps from the highest threshold down"
            )
        previous = threshold


def _check_derate(name: str, table: Ladder, *, descending: bool) -> None:
    """Refuse unordered derating tables and negative amps."""
    previous: float | None = None
    for index, (temp, amps) in enumerate(table, start=1):
        step = f"{name} step {index} [{temp:g}, {amps:g}]"
        if not math.isfinite(temp) or not -40.0 <= temp <= 80.0:
            raise ValueError(f"{step}: {temp:g} °C is outside -40 to 80 °C")
        if not math.isfinite(amps) or amps < 0 or amps > MAX_AMPS:
            raise ValueError(f"{step}: {amps:g} A is out of range; accepted: 0 to {MAX_AMPS:g} A")
        if previous is not None and (temp <= previous if not descending else temp >= previous):
            order = "coldest first (ascending)" if not descending else "hottest first (descending)"
            raise ValueError(f"{step}: temperatures must be listed {order}")
        previous = temp
