"""One simulated JK-PB pack: a LiFePO4 battery whose state becomes cell-info, settings and device info.

Pure and thread-safe (a demo steers a pack while a transport serves the line). The pack drifts with
:meth:`SimulatedPack.step`; the line (:mod:`jk_pb.simulator`) turns its state into records.
"""

from __future__ import annotations

import bisect
import random
import threading

from .cellinfo import CellInfo
from .layout import JK02, LAYOUT_24S, LAYOUT_32S
from .settings import DeviceInfo, Settings

#: LiFePO4 open-circuit voltage by cell SOC (%).
OCV_CURVE = (
    (0.0, 2.50), (5.0, 3.05), (10.0, 3.20), (20.0, 3.25), (40.0, 3.29), (60.0, 3.31), (80.0, 3.335),
    (90.0, 3.345), (95.0, 3.36), (98.0, 3.42), (99.3, 3.50), (100.0, 3.55),
)  # fmt: skip


def ocv(soc_pct: float) -> float:
    """Open-circuit voltage of one LiFePO4 cell at ``soc_pct`` (linear between table points)."""
    socs = [point[0] for point in OCV_CURVE]
    soc = min(max(soc_pct, socs[0]), socs[-1])
    i = min(bisect.bisect_right(socs, soc), len(socs) - 1)
    (s0, v0), (s1, v1) = OCV_CURVE[i - 1], OCV_CURVE[i]
    return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


class SimulatedPack:
    """A pack at ``address``: cells follow SOC and current; steer it with the ``set_*`` methods."""

    def __init__(
        self,
        address: int,
        cells: int = 16,
        soc_pct: float = 60.0,
        current_a: float = 0.0,
        capacity_ah: float = 280.0,
        temperature_c: float = 20.0,
        *,
        layout: str = LAYOUT_32S,
        charge_limit_a: float = 100.0,
        discharge_limit_a: float = 150.0,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(address if seed is None else seed)
        self.address = address
        self.layout = layout
        self._check_cells(cells)
        self.cells = cells
        self.capacity_ah = capacity_ah
        self.charge_limit_a = charge_limit_a
        self.discharge_limit_a = discharge_limit_a
        self._offsets_mv = [self._rng.randint(-6, 6) for _ in range(32)]
        self._soc = float(soc_pct)
        self._current = float(current_a)
        self._temperature = float(temperature_c)
        self._cycles = 5
        self._runtime_s = 1000
        self._alarm_bits = 0
        self._zero_cells: set[int] = set()
        self._charge_on = self._discharge_on = True
        self.online = True  # False: the pack dropped off the line (power, cable, DIP switch)

    def _check_cells(self, cells: int) -> None:
        if not 1 <= cells <= JK02[self.layout].cell_slots:
            raise ValueError(
                f"cells = {cells}: a {self.layout} record holds 1 to {JK02[self.layout].cell_slots}"
            )

    # -- steering -----------------------------------------------------------------------------

    def set_current(self, amps: float) -> None:
        """Set the pack current (+ = charging)."""
        with self._lock:
            self._current = float(amps)

    def set_soc(self, soc_pct: float) -> None:
        """Jump to ``soc_pct``."""
        with self._lock:
            self._soc = min(100.0, max(0.0, float(soc_pct)))

    def set_temperature(self, celsius: float) -> None:
        """Set the probes' temperature."""
        with self._lock:
            self._temperature = float(celsius)

    def set_alarm_bits(self, bits: int) -> None:
        """Force JK alarm bits."""
        with self._lock:
            self._alarm_bits = bits & 0xFFFFFFFF

    def set_mosfets(self, charge: bool, discharge: bool) -> None:
        """Switch the charge and discharge MOSFETs."""
        with self._lock:
            self._charge_on, self._discharge_on = charge, discharge

    def set_cell_zero(self, cell: int, zero: bool = True) -> None:
        """Make cell ``cell`` (1-based) read 0 mV, like a broken sense wire."""
        with self._lock:
            (self._zero_cells.add if zero else self._zero_cells.discard)(cell)

    def set_cell_count(self, cells: int) -> None:
        """Report ``cells`` cells from the next reply on (cell info and settings agree)."""
        self._check_cells(cells)
        with self._lock:
            self.cells = cells

    def step(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds pass: SOC follows the current."""
        if dt_s <= 0:
            return
        with self._lock:
            amps = self.current_a
            self._soc = min(100.0, max(0.0, self._soc + amps * dt_s / 36 / self.capacity_ah))
            self._runtime_s += round(dt_s)

    # -- state as records ---------------------------------------------------------------------

    @property
    def current_a(self) -> float:
        """The current that flows: 0 in a direction whose MOSFET is off."""
        with self._lock:
            if (self._current > 0 and not self._charge_on) or (self._current < 0 and not self._discharge_on):
                return 0.0
            return self._current

    def cell_info(self) -> CellInfo:
        """The pack's state as the next cell-info record reports it."""
        with self._lock:
            base_mv = ocv(self._soc) * 1000 + self.current_a * 0.5
            true_mv = [round(base_mv + self._offsets_mv[n]) for n in range(self.cells)]
            mv = [0 if n + 1 in self._zero_cells else m for n, m in enumerate(true_mv)]
            volts = tuple(m / 1000 for m in mv)
            live = [m for m in mv if m] or [0]
            is_32 = self.layout == LAYOUT_32S
            return CellInfo(
                layout=self.layout,
                counter=0,
                cell_mask=(1 << self.cells) - 1,
                cell_voltages_v=volts,
                wire_resistances_ohm=tuple(0.05 for _ in volts),
                average_cell_v=round(sum(live) / len(live)) / 1000,
                delta_cell_v=(max(live) - min(live)) / 1000,
                max_cell_number=mv.index(max(mv)) + 1,
                min_cell_number=mv.index(min(live)) + 1,
                voltage_v=sum(true_mv) / 1000,
                current_a=round(self.current_a, 3),
                soc_pct=round(self._soc),
                soh_pct=100,
                remaining_capacity_ah=round(self.capacity_ah * self._soc / 100, 3),
                capacity_ah=self.capacity_ah,
                cycle_count=self._cycles,
                cycle_capacity_ah=round(self._cycles * self.capacity_ah, 3),
                runtime_s=self._runtime_s,
                mosfet_temperature_c=round(self._temperature + 3, 1),
                t1_temperature_c=round(self._temperature, 1),
                t2_temperature_c=round(self._temperature + 0.5, 1),
                mosfet2_temperature_c=round(self._temperature + 3, 1) if is_32 else None,
                extra_temperatures_c=(round(self._temperature - 0.5, 1), None) if is_32 else (),
                alarm_bits=self._alarm_bits,
                wire_alarm_mask=0,
                balance_current_a=0.0,
                balancing_action=0,
                charge_enabled=self._charge_on,
                discharge_enabled=self._discharge_on,
                precharge_enabled=False if is_32 else None,
                heating=False if is_32 else None,
                temperature_presence=None,
            )

    def settings(self) -> Settings:
        """The pack's configuration as its settings record reports it."""
        with self._lock:
            return Settings(
                smart_sleep_v=3.5,
                cell_uvp_v=2.7,
                cell_uvp_recovery_v=2.9,
                cell_ovp_v=3.65,
                cell_ovp_recovery_v=3.44,
                balance_trigger_v=0.005,
                cell_soc100_v=3.445,
                cell_soc0_v=2.9,
                cell_request_charge_v=3.45,
                cell_request_float_v=3.35,
                power_off_v=2.5,
                max_charge_current_a=self.charge_limit_a,
                max_discharge_current_a=self.discharge_limit_a,
                max_balance_current_a=2.0,
                charge_overtemperature_c=45.0,
                charge_undertemperature_c=2.0,
                discharge_overtemperature_c=55.0,
                mosfet_overtemperature_c=80.0,
                cell_count=self.cells,
                charge_switch=True,
                discharge_switch=True,
                balancer_switch=True,
                capacity_ah=self.capacity_ah,
                balance_start_v=3.4,
                address=self.address,
            )

    def device_info(self) -> DeviceInfo:
        """Who the pack says it is (a PB for the 32S layout, an older B model for 24S)."""
        pb = self.layout == LAYOUT_32S
        return DeviceInfo(
            model="JK_PB2A16S20P" if pb else "JK-B2A24S20P",
            hardware_version="19A" if pb else "10.XG",
            software_version="19.27" if pb else "10.07",
            uptime_s=self._runtime_s,
            power_on_count=3,
            device_name=f"SIM-PACK-{self.address}",
            manufacturing_date="250101",
            serial_number=f"SIM{self.address:08d}",
        )


__all__ = ["LAYOUT_24S", "LAYOUT_32S", "SimulatedPack", "ocv"]
