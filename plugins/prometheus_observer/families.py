"""The metric families of one cycle result (pure): the reading, the packs, the limits, charge control,
the grid meter and obedience.

A bank's per-pack series carry a ``pack`` label next to the bank's own series, which has none: select
the bank with ``{pack=""}`` and the packs with ``{pack!=""}``. With a single source there are no
per-pack series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from gateway_core.model import Alarm, BatteryReading, CycleResult, Fault, LimitFlag

PREFIX = "battery_gateway_"

_FLAGS = (
    ("charge", LimitFlag.CHARGE),
    ("discharge", LimitFlag.DISCHARGE),
    ("force_charge", LimitFlag.FORCE_CHARGE),
    ("full_charge", LimitFlag.FULL_CHARGE),
)

#: The charge states ``limit_ladder`` knows; another policy's state is added as it appears.
CHARGE_STATES = ("bulk", "absorption", "float")

#: ``(metric, help, value of a reading)`` of the series that exist for the bank and for each pack.
_PACK_SERIES: tuple[tuple[str, str, Callable[[BatteryReading], float]], ...] = (
    ("pack_voltage_volts", "Pack voltage.", lambda r: r.voltage_v),
    ("pack_current_amperes", "Pack current, positive while charging.", lambda r: r.current_a),
    ("state_of_charge_percent", "State of charge reported by the BMS.", lambda r: r.soc_pct),
    ("cell_voltage_min_volts", "Lowest cell voltage.", lambda r: r.min_cell_v),
    ("cell_voltage_max_volts", "Highest cell voltage.", lambda r: r.max_cell_v),
)


def gauge(name: str, doc: str, value: float, unit: str = "") -> GaugeMetricFamily:
    """One unlabelled gauge ``battery_gateway_<name>``."""
    return GaugeMetricFamily(PREFIX + name, doc, value=value, unit=unit)


def labelled(name: str, doc: str, label: str, values: Iterator[tuple[str, float]]) -> GaugeMetricFamily:
    """A gauge with one label: a sample per ``(label value, value)``."""
    family = GaugeMetricFamily(PREFIX + name, doc, labels=[label])
    for key, value in values:
        family.add_metric([key], value)
    return family


def reading_families(result: CycleResult) -> Iterator[Metric]:
    """The reading the limits rest on (a bank's: the combined one), and each pack's main values."""
    reading = result.reading
    yield from _per_pack_families(result)
    if reading is None:
        return
    yield gauge("pack_power_watts", "Pack power, positive while charging.", reading.power_w)
    yield gauge("state_of_health_percent", "State of health reported by the BMS.", reading.soh_pct)
    cells = ((str(i), v) for i, v in enumerate(reading.cell_voltages_v, start=1))
    yield labelled("cell_voltage_volts", "Voltage of each cell (cell numbered from 1).", "cell", cells)
    yield gauge("cell_voltage_delta_volts", "Highest minus lowest cell voltage.", reading.cell_delta_v)
    temps = [(f"battery_{i}", t) for i, t in enumerate(reading.temperatures_c, start=1)]
    if reading.bms_temperature_c is not None:
        temps.append(("mosfet", reading.bms_temperature_c))
    yield labelled(
        "temperature_celsius", "Battery probes (battery_N) and the BMS MOSFET sensor.", "sensor", iter(temps)
    )
    alarms = ((alarm.value, 1.0 if alarm in reading.alarms else 0.0) for alarm in Alarm)
    yield labelled("alarm_active", "1 while the BMS reports the alarm.", "alarm", alarms)
    yield gauge("bms_charge_enabled", "1 while the BMS charge switch is on.", float(reading.charge_enabled))
    yield gauge(
        "bms_discharge_enabled", "1 while the BMS discharge switch is on.", float(reading.discharge_enabled)
    )
    if reading.cycle_count is not None:
        yield gauge("bms_cycle_count", "Charge cycles counted by the BMS.", reading.cycle_count)
    if reading.capacity_ah is not None:
        yield gauge("capacity_ampere_hours", "Capacity reported by the BMS.", reading.capacity_ah)


def limit_families(result: CycleResult) -> Iterator[Metric]:
    """What was sent to the inverter, and the fail-safe state."""
    limits = result.limits
    currents = iter((("charge", limits.charge_current_a), ("discharge", limits.discharge_current_a)))
    yield labelled("limit_current_amperes", "Current limits sent to the inverter.", "direction", currents)
    voltages = [
        (direction, value)
        for direction, value in (
            ("charge", limits.charge_voltage_v),
            ("discharge", limits.discharge_voltage_v),
        )
        if value is not None
    ]
    if voltages:
        yield labelled(
            "limit_voltage_volts",
            "Voltage limits sent to the inverter (absent when not sent).",
            "direction",
            iter(voltages),
        )
    flags = ((name, 1.0 if flag in limits.flags else 0.0) for name, flag in _FLAGS)
    yield labelled("limit_request", "1 while the request flag is sent to the inverter.", "flag", flags)
    yield gauge(
        "failsafe_active", "1 while the gateway sends fail-safe stop limits.", float(limits.fault is not None)
    )
    reasons = ((fault.value, 1.0 if limits.fault is fault else 0.0) for fault in Fault)
    yield labelled("failsafe", "1 for the reason of the current fail-safe stop, else 0.", "reason", reasons)
    yield gauge("cycle_duration_seconds", "Duration of the latest control cycle.", result.duration_s)


def _per_pack_families(result: CycleResult) -> Iterator[Metric]:
    bank = result.reading
    packs = [(p.name, p.reading) for p in result.packs] if len(result.packs) > 1 else []
    for name, doc, value in _PACK_SERIES:
        family = GaugeMetricFamily(PREFIX + name, doc + " The bank's has no pack label.")
        if bank is not None:
            family.add_sample(PREFIX + name, {}, value(bank))
        for pack, reading in packs:
            if reading is not None:
                family.add_sample(PREFIX + name, {"pack": pack}, value(reading))
        if family.samples:
            yield family
    if packs:
        online = ((p.name, float(p.online)) for p in result.packs)
        yield labelled("pack_online", "1 while the pack counts in the bank, else 0.", "pack", online)


def control_families(result: CycleResult) -> Iterator[Metric]:
    """The policy's charge state (a state set) and the SOC the inverter is told."""
    state = result.limits.charge_state
    if state is not None:
        states = CHARGE_STATES if state in CHARGE_STATES else (*CHARGE_STATES, state)
        yield labelled(
            "charge_state",
            "1 for the policy's charge state (bulk, absorption, float), 0 for the others.",
            "state",
            ((name, float(name == state)) for name in states),
        )
    if result.reading is not None:
        reported = result.limits.reported_soc_pct
        yield gauge(
            "reported_state_of_charge_percent",
            "State of charge told to the inverter (the policy's, else the BMS's).",
            result.reading.soc_pct if reported is None else reported,
        )


def meter_families(result: CycleResult, wall: Callable[[float], float]) -> Iterator[Metric]:
    """The fresh grid-meter reading the policy saw; nothing when there is none."""
    meter = result.meter
    if meter is None:
        return
    yield gauge("grid_power_watts", "Grid power, positive while importing.", meter.grid_power_w)
    if meter.phase_powers_w:
        phases = ((str(i), v) for i, v in enumerate(meter.phase_powers_w, start=1))
        yield labelled("grid_phase_power_watts", "Grid power of each phase.", "phase", phases)
    yield gauge(
        "grid_last_read_timestamp_seconds", "When the grid-meter value was taken.", wall(meter.taken_at_s)
    )


def obedience_families(result: CycleResult) -> Iterator[Metric]:
    """Whether each sink's inverter ignores the limits (sinks that reported this cycle)."""
    reports = [(sink.name, sink.report) for sink in result.sinks if sink.report is not None]
    if reports:
        yield labelled(
            "inverter_ignores_limits",
            "1 while the sink sees its inverter draw or push more than the limits allow.",
            "sink",
            ((name, float(report.limits_ignored)) for name, report in reports if report is not None),
        )


def limits_ignored(result: CycleResult) -> bool:
    """True when any sink reported that its inverter ignores the limits this cycle."""
    if not result.sinks:
        return False
    return any(sink.report is not None and sink.report.limits_ignored for sink in result.sinks)
