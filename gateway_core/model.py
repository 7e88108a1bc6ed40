"""Plain data that flows through one cycle: readings, limits, results.

Every type is a frozen dataclass with units in its field names. Constructors reject broken values
(NaN above all, since a NaN passes every comparison in a ladder); physical plausibility is a separate
check in :mod:`gateway_core.plausibility`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Flag, StrEnum, auto


class Alarm(StrEnum):
    """Alarm conditions shared across BMS vendors; bit positions stay in the plugins."""

    CELL_OVERVOLTAGE = "cell_overvoltage"
    CELL_UNDERVOLTAGE = "cell_undervoltage"
    PACK_OVERVOLTAGE = "pack_overvoltage"
    PACK_UNDERVOLTAGE = "pack_undervoltage"
    CHARGE_OVERCURRENT = "charge_overcurrent"
    DISCHARGE_OVERCURRENT = "discharge_overcurrent"
    BATTERY_OVERTEMPERATURE = "battery_overtemperature"
    BATTERY_UNDERTEMPERATURE = "battery_undertemperature"
    MOSFET_OVERTEMPERATURE = "mosfet_overtemperature"
    BOX_OVERTEMPERATURE = "box_overtemperature"
    CELL_IMBALANCE = "cell_imbalance"
    LOW_CAPACITY = "low_capacity"
    CELL_ZERO_VOLTAGE = "cell_zero_voltage"
    BMS_INTERNAL = "bms_internal"


class LimitFlag(Flag):
    """Requests to the inverter; CHARGE and DISCHARGE need a non-zero current limit."""

    NONE = 0
    CHARGE = auto()
    DISCHARGE = auto()
    FORCE_CHARGE = auto()
    FULL_CHARGE = auto()


class Fault(StrEnum):
    """Why the gateway published stop limits; sinks map it to their protocol's error bits."""

    NO_READING = "no_reading"
    STALE_READING = "stale_reading"
    IMPLAUSIBLE_READING = "implausible_reading"
    TIMEOUT = "timeout"
    POLICY_ERROR = "policy_error"
    SHUTDOWN = "shutdown"


def _finite(owner: object, **values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{type(owner).__name__}.{name} must be a finite number, not {value!r}")


def _finite_items(owner: object, name: str, values: tuple[float, ...]) -> None:
    """Every item finite (fast path: one pass, a message only for the first bad one)."""
    if all(map(math.isfinite, values)):
        return
    for index, value in enumerate(values):
        _finite(owner, **{f"{name}[{index}]": value})


@dataclass(frozen=True, slots=True)
class BatteryReading:
    """One snapshot of the battery as a BMS source reported it.

    ``taken_at_s`` is the monotonic time (from the plugin context's clock) at which the reply
    arrived; ``current_a`` is positive while charging; ``temperatures_c`` are the battery probes and
    ``bms_temperature_c`` is the BMS's own (MOSFET) sensor, kept apart. Fields a BMS does not report
    are ``None``. ``capacity_ah`` is the full-charge (nominal) capacity, ``remaining_capacity_ah`` what
    is left; ``pack_count`` is how many packs the reading stands for (a bank's combined reading > 1).
    A bank's combined reading holds every pack's cells and probes, and ``series_cells`` says how many
    cells one pack has in series (the smallest pack's count); ``None`` means all cells are one series.
    """

    source_id: str
    taken_at_s: float
    voltage_v: float
    current_a: float
    soc_pct: float
    cell_voltages_v: tuple[float, ...]
    temperatures_c: tuple[float, ...] = ()
    soh_pct: float = 100.0
    bms_temperature_c: float | None = None
    alarms: frozenset[Alarm] = frozenset()
    charge_enabled: bool = True
    discharge_enabled: bool = True
    bms_charge_current_limit_a: float | None = None
    bms_discharge_current_limit_a: float | None = None
    cycle_count: int | None = None
    capacity_ah: float | None = None
    remaining_capacity_ah: float | None = None
    pack_count: int = 1
    series_cells: int | None = None

    def __post_init__(self) -> None:
        _finite(
            self,
            remaining_capacity_ah=self.remaining_capacity_ah,
            taken_at_s=self.taken_at_s,
            voltage_v=self.voltage_v,
            current_a=self.current_a,
            soc_pct=self.soc_pct,
            soh_pct=self.soh_pct,
            bms_temperature_c=self.bms_temperature_c,
            bms_charge_current_limit_a=self.bms_charge_current_limit_a,
            bms_discharge_current_limit_a=self.bms_discharge_current_limit_a,
            capacity_ah=self.capacity_ah,
        )
        _finite_items(self, "cell_voltages_v", self.cell_voltages_v)
        _finite_items(self, "temperatures_c", self.temperatures_c)
        if not isinstance(self.cell_voltages_v, tuple) or not isinstance(self.temperatures_c, tuple):
            raise TypeError("BatteryReading.cell_voltages_v and temperatures_c must be tuples")
        if not isinstance(self.alarms, frozenset):
            raise TypeError("BatteryReading.alarms must be a frozenset of Alarm")
        if self.pack_count < 1:
            raise ValueError("BatteryReading.pack_count must be at least 1")

    @property
    def cell_count(self) -> int:
        """Number of cells in series."""
        return len(self.cell_voltages_v)

    @property
    def cells_in_series(self) -> int:
        """Cells in series of one pack: what a pack voltage is made of (use it for per-cell volts)."""
        return self.series_cells if self.series_cells is not None else len(self.cell_voltages_v)

    @property
    def min_cell_v(self) -> float:
        """Lowest cell voltage (0.0 when no cells are reported)."""
        return min(self.cell_voltages_v, default=0.0)

    @property
    def max_cell_v(self) -> float:
        """Highest cell voltage (0.0 when no cells are reported)."""
        return max(self.cell_voltages_v, default=0.0)

    @property
    def cell_delta_v(self) -> float:
        """Spread between the highest and the lowest cell."""
        return self.max_cell_v - self.min_cell_v

    @property
    def power_w(self) -> float:
        """Pack power, positive while charging."""
        return self.voltage_v * self.current_a


@dataclass(frozen=True, slots=True)
class Limits:
    """What the gateway allows the inverter to do, with the reasons that set each value.

    Currents are magnitudes in amps (never negative). A CHARGE or DISCHARGE flag with a 0 A limit is
    rejected. ``fault`` is set only on stop limits published by the fail-safe.

    ``reported_soc_pct`` is the SOC the inverter is told, when the policy decides it (e.g. capped at
    98 % until the pack has reached float); ``None`` means the reading's own SOC. ``charge_state`` is
    the policy's charge state (``bulk``, ``absorption``, ``float``), when it has one.
    """

    charge_current_a: float
    discharge_current_a: float
    charge_voltage_v: float | None = None
    discharge_voltage_v: float | None = None
    flags: LimitFlag = LimitFlag.NONE
    reasons: tuple[str, ...] = ()
    fault: Fault | None = None
    reported_soc_pct: float | None = None
    charge_state: str | None = None

    def __post_init__(self) -> None:
        _finite(
            self,
            charge_current_a=self.charge_current_a,
            discharge_current_a=self.discharge_current_a,
            charge_voltage_v=self.charge_voltage_v,
            discharge_voltage_v=self.discharge_voltage_v,
            reported_soc_pct=self.reported_soc_pct,
        )
        if self.reported_soc_pct is not None and not 0.0 <= self.reported_soc_pct <= 100.0:
            raise ValueError(f"Limits.reported_soc_pct = {self.reported_soc_pct:g} is outside 0-100 %")
        if self.charge_current_a < 0 or self.discharge_current_a < 0:
            raise ValueError("Limits currents are magnitudes and must not be negative")
        if LimitFlag.CHARGE in self.flags and self.charge_current_a <= 0:
            raise ValueError("Limits: CHARGE requested with a 0 A charge limit")
        if LimitFlag.DISCHARGE in self.flags and self.discharge_current_a <= 0:
            raise ValueError("Limits: DISCHARGE requested with a 0 A discharge limit")
        if not isinstance(self.reasons, tuple):
            raise TypeError("Limits.reasons must be a tuple of str")
        if self.fault is not None and (self.charge_current_a or self.discharge_current_a or self.flags):
            raise ValueError("Limits with a fault are stop limits: 0 A both ways and nothing requested")
        if self.flags & (LimitFlag.FORCE_CHARGE | LimitFlag.FULL_CHARGE) and self.charge_current_a <= 0:
            raise ValueError("Limits: a force or full charge request needs a charge limit above 0 A")

    @classmethod
    def stop(cls, reason: str, fault: Fault) -> Limits:
        """The single fail-safe value: 0 A both ways, nothing requested, no voltages."""
        return cls(0.0, 0.0, None, None, LimitFlag.NONE, (reason,), fault)

    def restrict(self, other: Limits) -> Limits:
        """These limits lowered by ``other``: never higher than either, in every field.

        Currents and the charge voltage take the minimum, the discharge voltage the maximum, a
        request flag survives only when both keep it and its current is still above 0, and the
        reasons of both are kept.
        """
        charge = min(self.charge_current_a, other.charge_current_a)
        discharge = min(self.discharge_current_a, other.discharge_current_a)
        flags = self.flags & other.flags
        if charge <= 0:
            flags &= ~(LimitFlag.CHARGE | LimitFlag.FORCE_CHARGE | LimitFlag.FULL_CHARGE)
        if discharge <= 0:
            flags &= ~LimitFlag.DISCHARGE
        reasons = self.reasons + tuple(r for r in other.reasons if r not in self.reasons)
        return Limits(
            charge,
            discharge,
            _lowest(self.charge_voltage_v, other.charge_voltage_v, min),
            _lowest(self.discharge_voltage_v, other.discharge_voltage_v, max),
            flags,
            reasons,
            self.fault or other.fault,
            _lowest(self.reported_soc_pct, other.reported_soc_pct, min),
            self.charge_state or other.charge_state,
        )

    @property
    def is_stop(self) -> bool:
        """True when neither charging nor discharging is allowed."""
        return self.charge_current_a == 0 and self.discharge_current_a == 0 and not self.flags

    def summary(self) -> str:
        """One line for logs: currents, voltages and, for a stop, the reason."""
        text = f"charge {self.charge_current_a:g} A, discharge {self.discharge_current_a:g} A"
        if self.charge_voltage_v is not None:
            text += f", CVL {self.charge_voltage_v:.2f} V"
        if self.discharge_voltage_v is not None:
            text += f", DVL {self.discharge_voltage_v:.2f} V"
        if self.fault is not None:
            text += f" (stop: {'; '.join(self.reasons)})"
        return text


def _lowest(a: float | None, b: float | None, pick: Callable[[float, float], float]) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What a policy may know besides the reading.

    ``previous`` is the limits the sink was last given (stop limits included), so a policy ramps up
    from a real stop; ``None`` on the first cycle. ``meter`` is the grid meter's latest reading when it
    is fresh (``None`` when there is no meter, or it is older than ``gateway.meter_stale_after``), and
    ``meter_age_s`` its age. ``pack`` names the source instance the decision is for (a bank decides
    per pack).
    """

    now_s: float
    cycle: int
    previous: Limits | None = None
    meter: MeterReading | None = None
    meter_age_s: float | None = None
    pack: str = ""


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One grid-meter value: ``grid_power_w`` is positive while importing from the grid.

    ``taken_at_s`` is on the injected monotonic clock; per-phase powers (same sign) and the energy
    counters are optional.
    """

    meter_id: str
    taken_at_s: float
    grid_power_w: float
    phase_powers_w: tuple[float, ...] = ()
    energy_import_kwh: float | None = None
    energy_export_kwh: float | None = None

    def __post_init__(self) -> None:
        _finite(
            self,
            taken_at_s=self.taken_at_s,
            grid_power_w=self.grid_power_w,
            energy_import_kwh=self.energy_import_kwh,
            energy_export_kwh=self.energy_export_kwh,
        )
        for index, power in enumerate(self.phase_powers_w):
            _finite(self, **{f"phase_powers_w[{index}]": power})


@dataclass(frozen=True, slots=True)
class SentFrame:
    """One frame a sink put on the bus, as sent (for observers that show what the inverter sees)."""

    arbitration_id: int
    data: bytes
    is_extended_id: bool = False


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What a sink did in one publish: frames sent, and when the inverter was last heard.

    ``frames`` are the frames of this publish, in order; ``problems`` are conditions the sink reports
    every cycle while they last, without failing the publish (e.g. the inverter ignores the limits,
    which also sets ``limits_ignored``).
    """

    frames_sent: int
    peer_seen_at_s: float | None = None
    frames: tuple[SentFrame, ...] = ()
    problems: tuple[str, ...] = ()
    limits_ignored: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """One failure in a cycle, attributed to a role (source, policy, sink, engine) and plugin."""

    role: str
    plugin: str
    message: str


@dataclass(frozen=True, slots=True)
class PackResult:
    """One source (pack) of a cycle: whether it counts, its reading and what the policy gave it alone.

    ``reading`` is the pack's last plausible reading still inside ``stale_after`` (``None`` while it is
    offline for lack of one); ``limits`` the policy's decision for this pack alone.
    """

    name: str
    plugin: str
    online: bool
    reading: BatteryReading | None = None
    limits: Limits | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class SinkResult:
    """One sink of a cycle: whether it published, and its report."""

    name: str
    plugin: str
    published: bool
    report: PublishReport | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Everything observers learn about one completed cycle.

    ``reading`` is the reading the limits rest on (``None`` when stop limits were sent for lack of
    one): with several sources, the bank's combined reading. ``published`` is False when a sink could
    not publish this cycle. ``packs`` has one entry per source, ``sinks`` one per sink; ``meter`` is
    the fresh grid-meter reading the policy saw, if any.
    """

    cycle: int
    started_at_s: float
    reading: BatteryReading | None
    limits: Limits
    published: bool
    problems: tuple[Problem, ...] = ()
    peer_seen_at_s: float | None = None
    duration_s: float = 0.0
    source: str = ""
    policy: str = ""
    sink: str = ""
    packs: tuple[PackResult, ...] = ()
    sinks: tuple[SinkResult, ...] = ()
    meter: MeterReading | None = None
    meter_age_s: float | None = None
