"""``gateway limit_ladder explain``: show the limits a reading gets, and every reason, for tuning.

No ``from __future__ import annotations`` here: typer reads the annotations at run time.
"""

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway_core.config import load_raw
from gateway_core.errors import ConfigError, PolicyError
from gateway_core.model import Alarm, BatteryReading, Fault, GatewayState, Limits, MeterReading
from gateway_core.plausibility import implausibility
from gateway_core.settings import build_section

from .charging import duration
from .config import LadderConfig
from .policy import LadderMemory, decide

SECTION = "limit_ladder"
READING_KEYS = tuple(f.name for f in dataclasses.fields(BatteryReading))
NO_HISTORY = (
    "one reading has no history: hysteresis, hold times, ramps, oscillation and the charge states "
    "need a sequence (pass a JSON list of readings on stdin)"
)
#: Besides the BatteryReading keys, a replayed reading may carry the grid meter's power.
GRID_KEY = "grid_power_w"
MAX_STDIN_BYTES = 8 * 1024 * 1024


class InputError(ValueError):
    """The reading given on the command line or stdin cannot be used."""


def load_config(path: Path | None, overrides: list[str]) -> LadderConfig:
    """The ``[limit_ladder]`` section from ``--config`` and ``--set`` (other sections are ignored)."""
    raw, _ = load_raw(path, overrides)
    return build_section(LadderConfig, SECTION, raw.values.get(SECTION, {}), raw.origins.get(SECTION, {}))


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def from_bms_json(data: dict[str, Any]) -> dict[str, Any]:
    """BatteryReading keys from a BMS plugin's decode JSON (``gateway jk_uart decode``/``read --json``).

    That form has ``temperatures_c`` as ``{"mosfet", "t1", "t2"}`` (jk_uart) or as a list of probes
    (jbd), a ``cell_count``, and the BMS's protection settings under ``protection``; keys the policy
    does not use are dropped, alarm names the core does not know count as ``bms_internal``.
    """
    temps = data.get("temperatures_c") or {}
    protection = data.get("protection") or {}
    known_alarms = {alarm.value for alarm in Alarm}
    values = {key: data[key] for key in BMS_JSON_KEYS if data.get(key) is not None}
    if isinstance(temps, list):
        values["temperatures_c"] = temps
    else:
        values["temperatures_c"] = [temps[probe] for probe in ("t1", "t2") if temps.get(probe) is not None]
    if isinstance(temps, dict) and temps.get("mosfet") is not None:
        values["bms_temperature_c"] = temps["mosfet"]
    values["alarms"] = sorted(
        {name if name in known_alarms else Alarm.BMS_INTERNAL.value for name in data.get("alarms", ())}
    )
    if protection.get("charge_overcurrent_a") is not None:
        values["bms_charge_current_limit_a"] = protection["charge_overcurrent_a"]
    if protection.get("discharge_overcurrent_a") is not None:
        values["bms_discharge_current_limit_a"] = protection["discharge_overcurrent_a"]
    return values


def from_record_json(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """BatteryReading keys from a decoded record that names its ``record`` (``gateway jk_pb decode``).

    That form uses the BatteryReading names and adds vendor extras under their own names, which are
    dropped; a settings or device-info record, or one without SOC and current (JK04), is refused.
    """
    kind = data.get("record")
    if kind != "cell_info":
        raise InputError(f"reading {index + 1}: a {kind} record holds no reading; give a cell_info record")
    missing = [key for key in ("soc_pct", "current_a") if data.get(key) is None]
    if missing:
        raise InputError(f"reading {index + 1}: the cell_info record has no {' or '.join(missing)}")
    return {key: value for key, value in data.items() if key in READING_KEYS and value is not None}


BMS_JSON_KEYS = (
    "cell_voltages_v", "voltage_v", "current_a", "soc_pct", "charge_enabled", "discharge_enabled",
    "cycle_count", "capacity_ah",
)  # fmt: skip


def _without_cell_count(data: dict[str, Any], index: int) -> dict[str, Any]:
    """``cell_count`` (a BatteryReading property, in ``gateway daly decode`` JSON) must match the cells."""
    if "cell_count" not in data:
        return data
    values = {key: value for key, value in data.items() if key != "cell_count"}
    cells = values.get("cell_voltages_v")
    if isinstance(cells, list) and data["cell_count"] != len(cells):
        raise InputError(
            f"reading {index + 1}: cell_count {data['cell_count']!r} but {len(cells)} cell voltages"
        )
    return values


def reading_from_json(data: object, index: int = 0) -> BatteryReading:
    """A reading from a JSON object with BatteryReading keys, or a BMS plugin's decode JSON.

    Cells are required, the rest defaulted.
    """
    if not isinstance(data, dict):
        raise InputError(f"reading {index + 1}: expected a JSON object, got {type(data).__name__}")
    declared = data.get("cell_count")
    if "record" in data:
        data = from_record_json(data, index)
    elif isinstance(data.get("temperatures_c"), dict) or "cell_count" in data:
        data = from_bms_json(data)
    if declared is not None:  # a decoder's cell count must match the cells it gave
        data = {**data, "cell_count": declared}
    data = _without_cell_count(data, index)
    unknown = sorted(set(data) - set(READING_KEYS) - {GRID_KEY})
    if unknown:
        raise InputError(
            f"reading {index + 1}: unknown key(s) {', '.join(unknown)}; known: {', '.join(READING_KEYS)}"
        )
    values: dict[str, Any] = {k: v for k, v in data.items() if k != GRID_KEY}
    cells = values.get("cell_voltages_v")
    if not isinstance(cells, list) or not cells:
        raise InputError(f"reading {index + 1}: cell_voltages_v must be a non-empty list of volts")
    try:
        values["cell_voltages_v"] = tuple(float(c) for c in cells)
        values["temperatures_c"] = tuple(float(t) for t in values.get("temperatures_c", ()))
        values["alarms"] = frozenset(Alarm(a) for a in values.get("alarms", ()))
        values.setdefault("source_id", "explain")
        values.setdefault("taken_at_s", float(index))
        values.setdefault("voltage_v", round(sum(values["cell_voltages_v"]), 3))
        values.setdefault("current_a", 0.0)
        values.setdefault("soc_pct", 50.0)
        return BatteryReading(**values)
    except OverflowError:
        raise InputError(f"reading {index + 1}: a number is too large") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"reading {index + 1}: {exc}") from None


def meter_from_json(data: object, reading: BatteryReading, index: int) -> MeterReading | None:
    """The grid meter a replayed reading carries (``grid_power_w``), taken with the reading."""
    if not isinstance(data, dict) or data.get(GRID_KEY) is None:
        return None
    power = data[GRID_KEY]
    if isinstance(power, bool) or not isinstance(power, int | float):
        raise InputError(f"reading {index + 1}: {GRID_KEY} must be a number of watts")
    try:
        return MeterReading("explain", reading.taken_at_s, float(power))
    except (OverflowError, ValueError):
        raise InputError(f"reading {index + 1}: {GRID_KEY} must be a finite number of watts") from None


def explain_sequence(
    readings: list[BatteryReading],
    config: LadderConfig,
    meters: list[MeterReading | None] | None = None,
) -> list[tuple[Limits, LadderMemory]]:
    """Decide each reading in order, as the gateway would (time from ``taken_at_s``).

    Returns each decision with the memory after it (the charge state and since when). A policy
    error gives the engine's stop limits, as in the gateway.
    """
    memory = LadderMemory()
    previous: Limits | None = None
    out: list[tuple[Limits, LadderMemory]] = []
    for cycle, reading in enumerate(readings, start=1):
        why = implausibility(reading)
        meter = meters[cycle - 1] if meters else None
        if why is not None:
            limits = Limits.stop(f"implausible reading: {why}", Fault.IMPLAUSIBLE_READING)
        else:
            state = GatewayState(now_s=reading.taken_at_s, cycle=cycle, previous=previous, meter=meter)
            try:
                limits, memory = decide(reading, memory, state, config)
            except PolicyError as exc:
                limits = Limits.stop(f"policy 'limit_ladder' failed: {exc}", Fault.POLICY_ERROR)
        out.append((limits, memory))
        previous = limits
    return out


def _in_state_s(reading: BatteryReading, limits: Limits, memory: LadderMemory) -> float | None:
    since = memory.charge_state.since_s
    return None if limits.charge_state is None or since is None else reading.taken_at_s - since


def _as_dict(reading: BatteryReading, limits: Limits, memory: LadderMemory) -> dict[str, Any]:
    return {
        "reading": {
            "cells": reading.cell_count,
            "min_cell_v": reading.min_cell_v,
            "max_cell_v": reading.max_cell_v,
            "soc_pct": reading.soc_pct,
            "current_a": reading.current_a,
            "temperatures_c": list(reading.temperatures_c),
            "taken_at_s": reading.taken_at_s,
        },
        "charge_current_a": limits.charge_current_a,
        "discharge_current_a": limits.discharge_current_a,
        "charge_voltage_v": limits.charge_voltage_v,
        "discharge_voltage_v": limits.discharge_voltage_v,
        "charge_state": limits.charge_state,
        "charge_state_for_s": _in_state_s(reading, limits, memory),
        "reported_soc_pct": limits.reported_soc_pct,
        "flags": [f.name for f in type(limits.flags) if f in limits.flags and f.name],
        "fault": limits.fault.value if limits.fault is not None else None,
        "reasons": list(limits.reasons),
    }


def _print_human(reading: BatteryReading, limits: Limits, memory: LadderMemory) -> None:
    temps = ", ".join(f"{t:.1f}" for t in reading.temperatures_c) or "none"
    typer.echo(
        f"reading: {reading.cell_count} cells, lowest {reading.min_cell_v:.3f} V, highest "
        f"{reading.max_cell_v:.3f} V, SOC {reading.soc_pct:g} %, current {reading.current_a:+.1f} A, "
        f"temperatures {temps} °C"
    )
    typer.echo(f"  charge     {limits.charge_current_a:g} A")
    typer.echo(f"  discharge  {limits.discharge_current_a:g} A")
    for label, volts in (("CVL", limits.charge_voltage_v), ("DVL", limits.discharge_voltage_v)):
        typer.echo(f"  {label}        {'-' if volts is None else f'{volts:.2f} V'}")
    in_state = _in_state_s(reading, limits, memory)
    if limits.charge_state is not None and in_state is not None:
        typer.echo(f"  state      {limits.charge_state} for {duration(in_state)}")
    if limits.reported_soc_pct is not None:
        typer.echo(f"  SOC sent   {limits.reported_soc_pct:g} % (BMS {reading.soc_pct:g} %)")
    typer.echo("  reasons:")
    for reason in limits.reasons:
        typer.echo(f"    - {reason}")


def _readings_from_options(
    cells: str,
    cell_count: int | None,
    soc: float,
    current: float,
    temps: str,
    voltage: float | None,
    alarms: list[str],
    charge_off: bool,
    discharge_off: bool,
    bms_charge_limit: float | None,
    bms_discharge_limit: float | None,
) -> list[BatteryReading]:
    voltages = _floats(cells, "--cells")
    if cell_count is not None:
        if len(voltages) != 1:
            raise InputError("--cell-count repeats one voltage: give --cells a single value with it")
        voltages = voltages * cell_count
    data: dict[str, Any] = {
        "cell_voltages_v": list(voltages),
        "soc_pct": soc,
        "current_a": current,
        "temperatures_c": list(_floats(temps, "--temps")),
        "alarms": alarms,
        "charge_enabled": not charge_off,
        "discharge_enabled": not discharge_off,
        "bms_charge_current_limit_a": bms_charge_limit,
        "bms_discharge_current_limit_a": bms_discharge_limit,
    }
    if voltage is not None:
        data["voltage_v"] = voltage
    return [reading_from_json(data)]


def _readings_from_stdin() -> tuple[list[BatteryReading], list[MeterReading | None], bool]:
    if sys.stdin.isatty():
        raise InputError("give the reading with --cells ... or as JSON on stdin")
    text = sys.stdin.read(MAX_STDIN_BYTES + 1)
    if len(text) > MAX_STDIN_BYTES:
        raise InputError(f"stdin holds more than {MAX_STDIN_BYTES // (1024 * 1024)} MiB")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an integer of > 4300 digits
        raise InputError(f"stdin is not JSON: {str(exc).splitlines()[0][:120]}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise InputError("stdin holds an empty list; give at least one reading")
    readings = [reading_from_json(item, i) for i, item in enumerate(items)]
    meters = [meter_from_json(item, r, i) for i, (item, r) in enumerate(zip(items, readings, strict=True))]
    return readings, meters, isinstance(data, list)


def build_cli() -> typer.Typer:
    """The ``gateway limit_ladder`` command group."""
    app = typer.Typer(help="The limit_ladder policy: explain its decisions.", no_args_is_help=True)

    @app.command()
    def explain(
        config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file")] = None,
        set_: Annotated[
            list[str] | None, typer.Option("--set", "-s", help="override a key: limit_ladder.key=value")
        ] = None,
        cells: Annotated[
            str | None, typer.Option(help="cell voltages, comma-separated (else a JSON reading on stdin)")
        ] = None,
        cell_count: Annotated[
            int | None, typer.Option(min=1, max=64, help="repeat the single --cells value this many times")
        ] = None,
        soc: Annotated[float, typer.Option(help="state of charge, %")] = 50.0,
        current: Annotated[float, typer.Option(help="battery current, A (+ = charging)")] = 0.0,
        temps: Annotated[str, typer.Option(help="battery probes, °C, comma-separated ('' = none)")] = "25",
        voltage: Annotated[float | None, typer.Option(help="pack voltage, V (default: sum of cells)")] = None,
        alarm: Annotated[
            list[str] | None,
            typer.Option(help="a BMS alarm, repeatable: " + ", ".join(a.value for a in Alarm)),
        ] = None,
        charge_off: Annotated[bool, typer.Option(help="the BMS charge MOSFET is off")] = False,
        discharge_off: Annotated[bool, typer.Option(help="the BMS discharge MOSFET is off")] = False,
        bms_charge_limit: Annotated[
            float | None, typer.Option(help="BMS charge over-current protection, A")
        ] = None,
        bms_discharge_limit: Annotated[
            float | None, typer.Option(help="BMS discharge over-current protection, A")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Print the limits and every reason for a reading (--cells ... or JSON on stdin).

        A JSON list on stdin is replayed in order (time from taken_at_s), showing hysteresis,
        hold times, ramps, oscillation counteraction (a reading may carry grid_power_w) and the
        charge states (bulk, absorption, float) with the time spent in each.
        """
        try:
            ladder_config = load_config(config, set_ or [])
        except ConfigError as exc:
            typer.echo(f"gateway: error: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            if cells is not None:
                readings = _readings_from_options(
                    cells,
                    cell_count,
                    soc,
                    current,
                    temps,
                    voltage,
                    alarm or [],
                    charge_off,
                    discharge_off,
                    bms_charge_limit,
                    bms_discharge_limit,
                )
                meters: list[MeterReading | None] = [None]
                sequence = False
            else:
                readings, meters, sequence = _readings_from_stdin()
        except InputError as exc:
            typer.echo(f"gateway: error: {exc}", err=True)
            raise typer.Exit(2) from None
        decisions = explain_sequence(readings, ladder_config, meters)
        if as_json:
            rows = [_as_dict(r, lim, mem) for r, (lim, mem) in zip(readings, decisions, strict=True)]
            typer.echo(json.dumps(rows if sequence else rows[0], indent=2, ensure_ascii=False))
            return
        for number, (reading, (limits, memory)) in enumerate(zip(readings, decisions, strict=True), start=1):
            if sequence:
                typer.echo(f"[{number}] t = {reading.taken_at_s:g} s")
            _print_human(reading, limits, memory)
        if not sequence:
            typer.echo(f"note: {NO_HISTORY}")

    return app
