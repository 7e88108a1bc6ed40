"""Pure: a reading and limits in, one cycle's frame set out, as the inverter profile orders it.

The generic profile's set, in the order real batteries send it::

    0x351  CVL u16 0.1 V | CCL s16 0.1 A | DCL s16 0.1 A (positive) | DVL u16 0.1 V (optional)
    0x355  SOC u16 1 %   | SOH u16 1 %                    (only once a reading was seen)
    0x356  U s16 0.01 V  | I s16 0.1 A (+ = charging) | T s16 0.1 degC   (idem)
    0x359  protection b0-b1 | alarm b2-b3 | module count | "PN"
    0x35C  b7 charge enable, b6 discharge enable, b5/b4 force charge I/II, b3 full charge
    0x35E  manufacturer, 8 ASCII characters padded with spaces

Other profiles add extension frames (:mod:`.extras`) and layout variants (``0x355/8``, ...).
Before the first valid reading only the profile's ``before_first_reading`` frames go out. No bus:
:class:`FrameBuilder` keeps only what it must repeat (the last plausible reading, the CVL/DVL of
limits that rest on one, the force-charge hysteresis, the CVL ramp) and logs a clamp once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from statistics import fmean

from gateway_core.model import BatteryReading, LimitFlag, Limits

from . import extras, measured
from .config import PylontechConfig
from .dbc import LIMITS_ID
from .encoder import SignalEncoder, signal_names
from .layout import frame_layouts
from .mapping import (
    ALARM_SIGNALS,
    BLOCKS_CHARGE,
    BLOCKS_DISCHARGE,
    COMMUNICATION_FAULTS,
    SYSTEM_ERROR_ALARMS,
    SYSTEM_FAULTS,
)
from .profile import FRAME_TOKENS, Profile, resolve
from .ramp import CvlRamp

log = logging.getLogger("gateway.pylontech.frames")

PN = int.from_bytes(b"PN", "little")


@dataclass(frozen=True, slots=True)
class CanFrame:
    """One classic CAN frame with an 11-bit id."""

    arbitration_id: int
    data: bytes

    def __str__(self) -> str:
        """candump's compact form, e.g. ``35C#C000``."""
        return f"{self.arbitration_id:03X}#{self.data.hex().upper()}"


@dataclass(frozen=True, slots=True)
class _Cycle:
    """What every frame of one build may need."""

    reading: BatteryReading | None  # the reading backing this cycle (None: stale or missing)
    last: BatteryReading | None  # the last plausible reading (repeated while stale)
    limits: Limits
    limits_data: bytes
    charge: bool  # the transmitted CCL is above 0
    discharge: bool


class FrameBuilder:
    """Builds the frame set each cycle; remembers what stale cycles must repeat."""

    def __init__(
        self, config: PylontechConfig, logger: logging.Logger | None = None, profile: Profile | None = None
    ) -> None:
        self._config = config
        self._profile = profile if profile is not None else resolve(config)
        self._log = logger or log
        for variant in {None, *self._profile.variants.values()}:
            frame_layouts(variant)  # read the DBC files now, not inside the first (timed) publish
        self._last: BatteryReading | None = None
        self._soc_pct: float | None = None
        self._cell_count: int | None = None
        self._cvl_v: float | None = None
        self._dvl_v: float | None = None
        self._ramp = CvlRamp(self._profile.cvl_step_down_v_per_min)
        self._force_charge = False
        self._encoder = SignalEncoder(self._log)
        self._noted: set[str] = set()

    @property
    def profile(self) -> Profile:
        """The effective inverter profile."""
        return self._profile

    def build(
        self, reading: BatteryReading | None, limits: Limits, *, now_s: float | None = None
    ) -> tuple[CanFrame, ...]:
        """The frames for one cycle, in the profile's order.

        ``reading`` is None when no valid reading backs ``limits``: both currents are then sent as
        0 whatever ``limits`` says, the measurement frames repeat the last good values with current
        0, and the CVL/DVL of ``limits`` are not taken up. ``now_s`` (clock seconds) paces the CVL
        step-down limit; without it a lower CVL goes out at once.
        """
        if reading is not None:
            self._remember(reading, limits)
        charge_a, discharge_a = self._currents(reading, limits)
        limits_data = self._encoder.encode(
            LIMITS_ID,
            {
                "charge_voltage_limit": self._charge_voltage(now_s),
                "charge_current_limit": charge_a,
                "discharge_current_limit": discharge_a,
                "discharge_voltage_limit": self._discharge_voltage(),
            },
        )
        if not self._config.send_discharge_voltage:
            limits_data = limits_data[:6]
        cycle = _Cycle(
            reading,
            self._last,
            limits,
            limits_data,
            charge=int.from_bytes(limits_data[2:4], "little", signed=True) > 0,
            discharge=int.from_bytes(limits_data[4:6], "little", signed=True) > 0,
        )
        tokens = self._profile.frames
        if self._last is None:
            allowed = set(self._profile.before_first_reading)
            tokens = tuple(t for t in tokens if t in allowed)
        frames = []
        for token in tokens:
            data = self._frame(token, cycle)
            if data is not None:
                frames.append(CanFrame(FRAME_TOKENS[token][0], data))
        return tuple(frames)

    # -- what is remembered ---------------------------------------------------------------------

    def _remember(self, reading: BatteryReading, limits: Limits) -> None:
        self._last = reading
        self._cell_count = reading.cell_count or self._cell_count
        self._soc_pct = limits.reported_soc_pct if limits.reported_soc_pct is not None else reading.soc_pct
        if limits.fault is None:  # only limits resting on a plausible reading set the stop voltages
            self._cvl_v = limits.charge_voltage_v if limits.charge_voltage_v is not None else self._cvl_v
            self._dvl_v = (
                limits.discharge_voltage_v if limits.discharge_voltage_v is not None else self._dvl_v
            )
        self._update_force_charge(reading.soc_pct)

    def _update_force_charge(self, soc_pct: float) -> None:
        threshold = self._config.force_charge_soc_pct
        if threshold is None:
            self._force_charge = False
        elif soc_pct <= threshold:
            self._force_charge = True
        elif soc_pct >= self._config.force_charge_release_soc_pct:
            self._force_charge = False

    def _temperature(self, reading: BatteryReading) -> float:
        probes = reading.temperatures_c
        if self._config.temperature_mode == "max":
            extra = () if reading.bms_temperature_c is None else (reading.bms_temperature_c,)
            return max((*probes, *extra), default=0.0)
        if probes:
            return fmean(probes)
        return reading.bms_temperature_c if reading.bms_temperature_c is not None else 0.0

    # -- limits ---------------------------------------------------------------------------------

    def _currents(self, reading: BatteryReading | None, limits: Limits) -> tuple[float, float]:
        if reading is None:
            return 0.0, 0.0
        charge, discharge = limits.charge_current_a, limits.discharge_current_a
        if not reading.charge_enabled or reading.alarms & BLOCKS_CHARGE:
            charge = 0.0
        if not reading.discharge_enabled or reading.alarms & BLOCKS_DISCHARGE:
            discharge = 0.0
        if charge > 0 and LimitFlag.CHARGE not in limits.flags:
            self._note(
                "unflagged charge", "limits allow %g A charge without the CHARGE flag: sending 0 A", charge
            )
            charge = 0.0
        if discharge > 0 and LimitFlag.DISCHARGE not in limits.flags:
            self._note(
                "unflagged discharge",
                "limits allow %g A discharge without the DISCHARGE flag: sending 0 A",
                discharge,
            )
            discharge = 0.0
        return charge, discharge

    def _charge_voltage(self, now_s: float | None) -> float:
        if self._cvl_v is not None:
            return self._ramp.step(self._cvl_v, now_s)
        if self._config.stop_charge_voltage_v is not None:
            return self._config.stop_charge_voltage_v
        return self._cells() * self._config.cell_charge_voltage_v

    def _discharge_voltage(self) -> float:
        if self._dvl_v is not None:
            return self._dvl_v
        if self._config.stop_discharge_voltage_v is not None:
            return self._config.stop_discharge_voltage_v
        return self._cells() * self._config.cell_discharge_voltage_v

    def _cells(self) -> int:
        return self._cell_count or self._config.fallback_cell_count

    # -- frames ---------------------------------------------------------------------------------

    def _frame(self, token: str, cycle: _Cycle) -> bytes | None:
        frame_id, variant = FRAME_TOKENS[token]
        last = cycle.last
        if frame_id == LIMITS_ID:
            return cycle.limits_data
        if frame_id == 0x35E:
            return self._encoder.encode(
                0x35E, {"manufacturer": int.from_bytes(self._profile.manufacturer_bytes, "little")}
            )
        if frame_id in (0x359, 0x35C, 0x35A):
            return self._status_frame(frame_id, variant, cycle)
        if last is None:
            return None
        soc = self._soc_pct if self._soc_pct is not None else last.soc_pct
        values = measured.values(
            frame_id,
            variant,
            last,
            fresh=cycle.reading is not None,
            soc_pct=soc,
            temperature_c=self._temperature(last),
            packs=self._packs(),
        )
        if values is None:
            self._note(
                f"0x{frame_id:03X}", "0x%03X not sent: the reading does not carry its values", frame_id
            )
            return None
        if token == "0x355/8" and extras.remaining_ah(last) is None:
            self._note("remaining", "the reading has no capacity: 0x355 bytes 6-7 carry 0 Ah")
        if isinstance(values, bytes):
            return values
        return self._encoder.encode(frame_id, values, variant)

    def _status_frame(self, frame_id: int, variant: str | None, cycle: _Cycle) -> bytes:
        last = cycle.last
        if frame_id == 0x35A:
            alarms = cycle.reading.alarms if cycle.reading is not None else frozenset()
            values = dict.fromkeys(signal_names(0x35A), 0.0)  # 0: a field not reported
            values.update(extras.alarms_warnings(alarms, cycle.limits.fault))
            return self._encoder.encode(0x35A, values)
        if frame_id == 0x35C:
            values = self._requests(cycle)
            if variant == "luxpower":
                values["cycle_count"] = self._cycles(last)
            return self._encoder.encode(0x35C, values, variant)
        values = self._alarm_bits(cycle.reading, cycle.limits)
        if variant == "luxpower":
            del values["pn"]
            capacity = last.capacity_ah if last is not None else None
            if capacity is None:
                self._note("capacity", "the reading has no capacity: 0x359 bytes 5-6 carry 0 Ah")
            values["capacity"] = round(capacity or 0)
        return self._encoder.encode(0x359, values, variant)

    def _cycles(self, last: BatteryReading | None) -> int:
        if last is None or last.cycle_count is None:
            return 0
        return last.cycle_count

    def _packs(self) -> int:
        if self._config.module_count is not None:
            return self._config.module_count
        return self._last.pack_count if self._last is not None else 1

    def _alarm_bits(self, reading: BatteryReading | None, limits: Limits) -> dict[str, float]:
        values = dict.fromkeys(signal_names(0x359), 0.0)
        values["module_count"] = self._packs()
        values["pn"] = PN
        system_error = (
            "protection_system_error" if self._config.system_error_bit == 3 else "protection_system_error_alt"
        )
        if reading is not None:
            for alarm in reading.alarms:
                for signal in ALARM_SIGNALS.get(alarm, ()):
                    values[signal] = 1
                if alarm in SYSTEM_ERROR_ALARMS:
                    values[system_error] = 1
        if limits.fault in COMMUNICATION_FAULTS:
            values["alarm_internal_communication_fail"] = 1
        elif limits.fault in SYSTEM_FAULTS:
            values[system_error] = 1
        return values

    def _requests(self, cycle: _Cycle) -> dict[str, float]:
        limits, charge = cycle.limits, cycle.charge
        force = charge and (LimitFlag.FORCE_CHARGE in limits.flags or self._force_charge)
        force_bit = "force_charge_2" if self._config.force_charge_bit == 4 else "force_charge_1"
        values: dict[str, float] = {
            "charge_enable": int(charge),
            "discharge_enable": int(cycle.discharge),
            "force_charge_1": 0,
            "force_charge_2": 0,
            "full_charge": int(charge and LimitFlag.FULL_CHARGE in limits.flags),
        }
        values[force_bit] = int(force and cycle.reading is not None)
        return values

    def _note(self, key: str, message: str, *args: object) -> None:
        if key not in self._noted:
            self._noted.add(key)
            self._log.warning(message, *args)
