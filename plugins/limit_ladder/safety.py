"""Pure safety rules: BMS alarms and MOSFETs, BMS over-current caps, temperature windows.

Which alarm zeroes which limit follows the project's JK -> Pylontech mapping: over-voltage and cold
stop charging, under-voltage stops discharging, over-temperature, imbalance and BMS faults stop both,
"low capacity" is information only.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.model import Alarm, BatteryReading

from .config import LadderConfig

CHARGE = "charge"
DISCHARGE = "discharge"

#: Which limits each alarm zeroes (an alarm absent here, like LOW_CAPACITY, zeroes none).
ALARM_STOPS: dict[Alarm, frozenset[str]] = {
    Alarm.CELL_OVERVOLTAGE: frozenset({CHARGE}),
    Alarm.PACK_OVERVOLTAGE: frozenset({CHARGE}),
    Alarm.CELL_UNDERVOLTAGE: frozenset({DISCHARGE}),
    Alarm.PACK_UNDERVOLTAGE: frozenset({DISCHARGE}),
    Alarm.CHARGE_OVERCURRENT: frozenset({CHARGE}),
    Alarm.DISCHARGE_OVERCURRENT: frozenset({DISCHARGE}),
    Alarm.BATTERY_UNDERTEMPERATURE: frozenset({CHARGE}),
    Alarm.BATTERY_OVERTEMPERATURE: frozenset({CHARGE, DISCHARGE}),
    Alarm.MOSFET_OVERTEMPERATURE: frozenset({CHARGE, DISCHARGE}),
    Alarm.BOX_OVERTEMPERATURE: frozenset({CHARGE, DISCHARGE}),
    Alarm.CELL_IMBALANCE: frozenset({CHARGE, DISCHARGE}),
    Alarm.CELL_ZERO_VOLTAGE: frozenset({CHARGE, DISCHARGE}),
    Alarm.BMS_INTERNAL: frozenset({CHARGE, DISCHARGE}),
}


def stop_reasons(reading: BatteryReading, kind: str) -> tuple[str, ...]:
    """Why the BMS itself forbids ``kind`` (``"charge"``/``"discharge"``): MOSFET off, alarms."""
    reasons: list[str] = []
    enabled = reading.charge_enabled if kind == CHARGE else reading.discharge_enabled
    if not enabled:
        reasons.append(f"{kind} 0 A: the BMS {kind} MOSFET is off")
    for alarm in sorted(reading.alarms):
        if kind in ALARM_STOPS.get(alarm, frozenset()):
            reasons.append(f"{kind} 0 A: BMS alarm {alarm.value.replace('_', ' ')}")
    return tuple(reasons)


def bms_cap(reading: BatteryReading, kind: str) -> float | None:
    """The BMS's own configured over-current protection for ``kind``, when it reports one."""
    value = reading.bms_charge_current_limit_a if kind == CHARGE else reading.bms_discharge_current_limit_a
    return None if value is None else max(0.0, value)


@dataclass(frozen=True, slots=True)
class TempVerdict:
    """A temperature decision: a cap (``None``: none, 0: stopped), its reason, and the stop latch."""

    cap_a: float | None
    reason: str | None
    blocked: bool


def _extremes(temps: tuple[float, ...]) -> tuple[str, float, str, float]:
    """Label and value of the coldest and the hottest probe (T1, T2, ...)."""
    cold = min(range(len(temps)), key=lambda i: temps[i])
    hot = max(range(len(temps)), key=lambda i: temps[i])
    return f"T{cold + 1}", temps[cold], f"T{hot + 1}", temps[hot]


def charge_temperature(reading: BatteryReading, config: LadderConfig, was_blocked: bool) -> TempVerdict:
    """Charging allowed only inside [min, max] °C with every probe present; derated near the edges.

    Once stopped, charging resumes only ``temperature_margin_c`` inside the window.
    """
    temps = reading.temperatures_c
    if len(temps) < max(1, config.min_temperature_probes):
        have = f"{len(temps)} battery temperature probe{'s' if len(temps) != 1 else ''}"
        return TempVerdict(
            0.0, f"charge 0 A: {have} reported, {max(1, config.min_temperature_probes)} needed", True
        )
    cold_name, coldest, hot_name, hottest = _extremes(temps)
    margin = config.temperature_margin_c if was_blocked else 0.0
    low, high = config.charge_min_temp_c + margin, config.charge_max_temp_c - margin
    if coldest < low:
        edge = "below" if not was_blocked else "not yet back above"
        return TempVerdict(0.0, f"charge 0 A: {cold_name} {coldest:.1f} °C {edge} {low:g} °C", True)
    if hottest > high:
        edge = "above" if not was_blocked else "not yet back below"
        return TempVerdict(0.0, f"charge 0 A: {hot_name} {hottest:.1f} °C {edge} {high:g} °C", True)
    cap: float | None = None
    reason: str | None = None
    for below_c, amps in config.charge_derate_cold:
        if coldest < below_c:
            cap, reason = (
                amps,
                f"charge derated to {amps:g} A: {cold_name} {coldest:.1f} °C below {below_c:g} °C",
            )
            break
    for above_c, amps in config.charge_derate_hot:
        if hottest > above_c:
            if cap is None or amps < cap:
                cap = amps
                reason = f"charge derated to {amps:g} A: {hot_name} {hottest:.1f} °C above {above_c:g} °C"
            break
    return TempVerdict(cap, reason, False)


def discharge_temperature(reading: BatteryReading, config: LadderConfig, was_blocked: bool) -> TempVerdict:
    """Discharging allowed inside [min, max] °C; a missing probe does not stop discharging."""
    temps = reading.temperatures_c
    if not temps:
        return TempVerdict(None, None, False)
    cold_name, coldest, hot_name, hottest = _extremes(temps)
    margin = config.temperature_margin_c if was_blocked else 0.0
    low, high = config.discharge_min_temp_c + margin, config.discharge_max_temp_c - margin
    if coldest < low:
        return TempVerdict(0.0, f"discharge 0 A: {cold_name} {coldest:.1f} °C below {low:g} °C", True)
    if hottest > high:
        return TempVerdict(0.0, f"discharge 0 A: {hot_name} {hottest:.1f} °C above {high:g} °C", True)
    return TempVerdict(None, None, False)


__all__ = [
    "ALARM_STOPS",
    "CHARGE",
    "DISCHARGE",
    "TempVerdict",
    "bms_cap",
    "charge_temperature",
    "discharge_temperature",
    "stop_reasons",
]
