"""Pure: a reading and limits in, the Pylontech low-voltage CAN frame set out (through cantools).

One cycle's set, in the order real batteries send it::

    0x351  CVL u16 0.1 V | CCL s16 0.1 A | DCL s16 0.1 A (positive) | DVL u16 0.1 V (optional)
    0x355  SOC u16 1 %   | SOH u16 1 %                    (only once a reading was seen)
    0x356  U s16 0.01 V  | I s16 0.1 A (+ = charging) | T s16 0.1 degC   (idem)
    0x359  protection b0-b1 | alarm b2-b3 | module count | "PN"
    0x35C  b7 charge enable, b6 discharge enable, b5/b4 force charge I/II, b3 full charge
    0x35E  manufacturer, 8 ASCII characters padded with spaces

No clock, no bus: :class:`FrameBuilder` keeps only what it must repeat (last measurements, last
CVL/DVL, the force-charge hysteresis) and logs a value it had to clamp once per episode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from statistics import fmean

from gateway_core.model import BatteryReading, LimitFlag, Limits

from .config import PylontechConfig
from .dbc import (
    ALARMS_ID,
    LIMITS_ID,
    MANUFACTURER_ID,
    MEASUREMENTS_ID,
    REQUESTS_ID,
    SOC_ID,
    load_database,
)
from .mapping import (
    ALARM_SIGNALS,
    BLOCKS_CHARGE,
    BLOCKS_DISCHARGE,
    COMMUNICATION_FAULTS,
    SYSTEM_ERROR_ALARMS,
    SYSTEM_FAULTS,
)

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
class _Measurements:
    soc_pct: float
    soh_pct: float
    voltage_v: float
    current_a: float
    temperature_c: float


class FrameBuilder:
    """Builds the frame set each cycle; remembers what stale cycles must repeat."""

    def __init__(self, config: PylontechConfig, logger: logging.Logger | None = None) -> None:
        self._config = config
        self._log = logger or log
        self._db = load_database()
        self._last: _Measurements | None = None
        self._cell_count: int | None = None
        self._cvl_v: float | None = None
        self._dvl_v: float | None = None
        self._force_charge = False
        self._clamped: set[str] = set()
        self._unflagged: set[str] = set()

    def build(self, reading: BatteryReading | None, limits: Limits) -> tuple[CanFrame, ...]:
        """The frames for one cycle: 0x351, [0x355, 0x356,] 0x359, 0x35C, 0x35E.

        ``reading`` is None when no valid reading backs ``limits``: both currents are then sent as
        0 whatever ``limits`` says, and 0x355/0x356 repeat the last good values with current 0
        (or are left out before the first good reading).
        """
        if reading is not None:
            self._remember(reading)
        charge_a, discharge_a = self._currents(reading, limits)
        limit_values = {
            "charge_voltage_limit": self._charge_voltage(limits),
            "charge_current_limit": charge_a,
            "discharge_current_limit": discharge_a,
            "discharge_voltage_limit": self._discharge_voltage(limits),
        }
        limits_data = self._encode(LIMITS_ID, limit_values)
        if not self._config.send_discharge_voltage:
            limits_data = limits_data[:6]
        raw_ccl = int.from_bytes(limits_data[2:4], "little", signed=True)
        raw_dcl = int.from_bytes(limits_data[4:6], "little", signed=True)
        frames = [CanFrame(LIMITS_ID, limits_data)]
        frames += self._measurement_frames(reading)
        frames.append(CanFrame(ALARMS_ID, self._encode(ALARMS_ID, self._alarm_bits(reading, limits))))
        requests = self._requests(reading, limits, charge=raw_ccl > 0, discharge=raw_dcl > 0)
        frames.append(CanFrame(REQUESTS_ID, self._encode(REQUESTS_ID, requests)))
        manufacturer = int.from_bytes(self._config.manufacturer_bytes, "little")
        frames.append(
            CanFrame(MANUFACTURER_ID, self._encode(MANUFACTURER_ID, {"manufacturer": manufacturer}))
        )
        return tuple(frames)

    # -- values ---------------------------------------------------------------------------------

    def _remember(self, reading: BatteryReading) -> None:
        self._cell_count = reading.cell_count or self._cell_count
        self._last = _Measurements(
            reading.soc_pct, reading.soh_pct, reading.voltage_v, reading.current_a, self._temperature(reading)
        )
        self._update_force_charge(reading.soc_pct)

    def _temperature(self, reading: BatteryReading) -> float:
        probes = reading.temperatures_c
        if self._config.temperature_mode == "max":
            extra = () if reading.bms_temperature_c is None else (reading.bms_temperature_c,)
            return max((*probes, *extra), default=0.0)
        if probes:
            return fmean(probes)
        return reading.bms_temperature_c if reading.bms_temperature_c is not None else 0.0

    def _update_force_charge(self, soc_pct: float) -> None:
        threshold = self._config.force_charge_soc_pct
        if threshold is None:
            self._force_charge = False
        elif soc_pct <= threshold:
            self._force_charge = True
        elif soc_pct >= self._config.force_charge_release_soc_pct:
            self._force_charge = False

    def _currents(self, reading: BatteryReading | None, limits: Limits) -> tuple[float, float]:
        if reading is None:
            return 0.0, 0.0
        charge, discharge = limits.charge_current_a, limits.discharge_current_a
        if not reading.charge_enabled or reading.alarms & BLOCKS_CHARGE:
            charge = 0.0
        if not reading.discharge_enabled or reading.alarms & BLOCKS_DISCHARGE:
            discharge = 0.0
        if charge > 0 and LimitFlag.CHARGE not in limits.flags:
            self._note_unflagged("charge", charge)
            charge = 0.0
        if discharge > 0 and LimitFlag.DISCHARGE not in limits.flags:
            self._note_unflagged("discharge", discharge)
            discharge = 0.0
        return charge, discharge

    def _note_unflagged(self, which: str, amps: float) -> None:
        if which not in self._unflagged:
            self._unflagged.add(which)
            self._log.warning(
                "limits allow %g A %s without the %s flag: sending 0 A", amps, which, which.upper()
            )

    def _charge_voltage(self, limits: Limits) -> float:
        if limits.charge_voltage_v is not None:
            self._cvl_v = limits.charge_voltage_v
        if self._cvl_v is not None:
            return self._cvl_v
        if self._config.stop_charge_voltage_v is not None:
            return self._config.stop_charge_voltage_v
        return self._cells() * self._config.cell_charge_voltage_v

    def _discharge_voltage(self, limits: Limits) -> float:
        if limits.discharge_voltage_v is not None:
            self._dvl_v = limits.discharge_voltage_v
        if self._dvl_v is not None:
            return self._dvl_v
        if self._config.stop_discharge_voltage_v is not None:
            return self._config.stop_discharge_voltage_v
        return self._cells() * self._config.cell_discharge_voltage_v

    def _cells(self) -> int:
        return self._cell_count or self._config.fallback_cell_count

    def _measurement_frames(self, reading: BatteryReading | None) -> list[CanFrame]:
        last = self._last
        if last is None:
            return []
        current = last.current_a if reading is not None else 0.0
        soc = self._encode(SOC_ID, {"soc": last.soc_pct, "soh": last.soh_pct})
        measured = self._encode(
            MEASUREMENTS_ID,
            {"voltage": last.voltage_v, "current": current, "temperature": last.temperature_c},
        )
        return [CanFrame(SOC_ID, soc), CanFrame(MEASUREMENTS_ID, measured)]

    def _alarm_bits(self, reading: BatteryReading | None, limits: Limits) -> dict[str, float]:
        values: dict[str, float] = {
            signal.name: 0 for signal in self._db.get_message_by_frame_id(ALARMS_ID).signals
        }
        values["module_count"] = self._config.module_count
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

    def _requests(
        self, reading: BatteryReading | None, limits: Limits, *, charge: bool, discharge: bool
    ) -> dict[str, float]:
        force = charge and (LimitFlag.FORCE_CHARGE in limits.flags or self._force_charge)
        force_bit = "force_charge_2" if self._config.force_charge_bit == 4 else "force_charge_1"
        values: dict[str, float] = {
            "charge_enable": int(charge),
            "discharge_enable": int(discharge),
            "force_charge_1": 0,
            "force_charge_2": 0,
            "full_charge": int(charge and LimitFlag.FULL_CHARGE in limits.flags),
        }
        values[force_bit] = int(force and reading is not None)
        return values

    # -- encoding -------------------------------------------------------------------------------

    def _encode(self, frame_id: int, values: dict[str, float]) -> bytes:
        message = self._db.get_message_by_frame_id(frame_id)
        clamped: dict[str, float] = {}
        for signal in message.signals:
            value = values[signal.name]
            low = signal.minimum if signal.minimum is not None else value
            high = signal.maximum if signal.maximum is not None else value
            inside = min(max(value, low), high)
            key = f"{message.name}.{signal.name}"
            if inside != value and key not in self._clamped:
                self._clamped.add(key)
                self._log.warning(
                    "0x%03X %s = %g is outside %g..%g %s: sending %g",
                    frame_id, signal.name, value, low, high, signal.unit or "", inside,
                )  # fmt: skip
            elif inside == value and key in self._clamped:
                self._clamped.discard(key)
                self._log.info("0x%03X %s is back in range (%g)", frame_id, signal.name, value)
            clamped[signal.name] = inside
        return bytes(message.encode(clamped, scaling=True, padding=False, strict=True))
