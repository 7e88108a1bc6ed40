"""Shape and cross-field checks of the ``[limit_ladder]`` section (stdlib only, like :mod:`.config`).

Each check raises ``ValueError`` with one precise line; the core turns it into a config error that
names the file and the section (exit 2). :func:`per_cell_problem` is shared with the policy, which
repeats the absolute-voltage check at decide time when the cell count was not configured.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

#: Plausible cell range for ladder thresholds, per-cell voltages and absolute voltages per cell.
MIN_CELL_V = 2.0
MAX_CELL_V = 4.5
MAX_AMPS = 1000.0

Ladder = tuple[tuple[float, float], ...]


def pairs(name: str, value: object) -> Ladder:
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


def check_ladder(name: str, ladder: Ladder) -> None:
    """Refuse empty, unordered, out-of-range ladders and negative amps, naming the step."""
    if not ladder:
        raise ValueError(f"{name} needs at least one [threshold_v, amps] step")
    previous: float | None = None
    for index, (threshold, amps) in enumerate(ladder, start=1):
        step = f"{name} step {index} [{threshold:g}, {amps:g}]"
        if not math.isfinite(threshold) or not MIN_CELL_V <= threshold <= MAX_CELL_V:
            raise ValueError(f"{step}: threshold {threshold:g} V is outside {MIN_CELL_V:g}-{MAX_CELL_V:g} V")
        if not math.isfinite(amps) or amps < 0 or amps > MAX_AMPS:
            raise ValueError(f"{step}: {amps:g} A is out of range; accepted: 0 to {MAX_AMPS:g} A")
        if previous is not None and threshold >= previous:
            raise ValueError(
                f"{step}: threshold {threshold:g} V is not below the previous step's {previous:g} V; "
                "list steps from the highest threshold down"
            )
        previous = threshold


def check_derate(name: str, table: Ladder, *, descending: bool) -> None:
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


def check_levels(name: str, levels: Sequence[float], low: float, high: float, unit: str) -> None:
    """Refuse an empty list of swing sizes, or one outside ``low``-``high``."""
    if not levels:
        raise ValueError(f"{name} needs at least one swing size")
    for level in levels:
        if not math.isfinite(level) or not low <= level <= high:
            raise ValueError(
                f"{name}: {level:g} {unit} is out of range; accepted: {low:g} to {high:g} {unit}"
            )


def per_cell_problem(name: str, volts: float, cells: int) -> str | None:
    """Why an absolute pack voltage ``name`` is implausible for ``cells`` cells in series, or ``None``.

    ``--set limit_ladder.charge_voltage=552`` on 16 cells would be 34.5 V per cell.
    """
    per_cell = volts / cells
    if MIN_CELL_V <= per_cell <= MAX_CELL_V:
        return None
    return (
        f"{name} = {volts:g} V is {per_cell:.3g} V per cell for {cells} cells; "
        f"a plausible cell is {MIN_CELL_V:g}-{MAX_CELL_V:g} V"
    )


def check_order(low_name: str, low: float, high_name: str, high: float, why: str = "") -> None:
    """Refuse ``low`` at or above ``high`` (both in volts per cell)."""
    if low >= high:
        raise ValueError(f"{low_name} = {low:g} V must be below {high_name} = {high:g} V{why}")


def check_state_dir(path: str) -> None:
    """``state_dir`` is empty (the default) or an absolute path without control characters."""
    if not path:
        return
    if any(ord(ch) < 32 for ch in path):
        raise ValueError("state_dir holds a control character; give a plain absolute path")
    if not os.path.isabs(path):
        raise ValueError(f'state_dir = {path!r} must be an absolute path (or "" for the default)')


def check_voltages(config: Any) -> None:
    """Cross-checks of the voltages: DVL < float < absorption, float < cell target, rebulk < float."""
    check_order(
        "discharge_voltage_per_cell",
        config.discharge_voltage_per_cell,
        "charge_voltage_per_cell",
        config.charge_voltage_per_cell,
    )
    if (
        config.charge_voltage is not None
        and config.discharge_voltage is not None
        and config.discharge_voltage >= config.charge_voltage
    ):
        raise ValueError(
            f"discharge_voltage = {config.discharge_voltage:g} V must be below "
            f"charge_voltage = {config.charge_voltage:g} V"
        )
    if config.cells is not None:
        for name in ("charge_voltage", "discharge_voltage"):
            volts = getattr(config, name)
            problem = None if volts is None else per_cell_problem(name, volts, config.cells)
            if problem:
                raise ValueError(problem)
    if not config.charge_states:
        return
    absorption = config.charge_voltage_per_cell
    absorption_name = "charge_voltage_per_cell"
    if config.charge_voltage is not None and config.cells is not None:
        absorption, absorption_name = config.charge_voltage / config.cells, "charge_voltage / cells"
    check_order("float_voltage_per_cell", config.float_voltage_per_cell, absorption_name, absorption)
    check_order(
        "discharge_voltage_per_cell",
        config.discharge_voltage_per_cell,
        "float_voltage_per_cell",
        config.float_voltage_per_cell,
    )
    check_order(
        "float_voltage_per_cell",
        config.float_voltage_per_cell,
        "cell_target_v",
        config.cell_target_v,
        " (the runaway-cell control never lowers the CVL below float)",
    )
    check_order(
        "rebulk_below_cell_v",
        config.rebulk_below_cell_v,
        "float_voltage_per_cell",
        config.float_voltage_per_cell,
        " (or float would end at once)",
    )
