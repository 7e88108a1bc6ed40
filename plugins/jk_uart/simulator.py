"""A simulated JK BMS that speaks the real "4E 57" byte protocol (pure: no port, no clock).

:class:`SimulatedBms` keeps a battery state (SOC, current, per-cell offsets, temperature), drifts it
with :meth:`~SimulatedBms.step` and answers read requests with valid frames, or with injected faults.
Transports (the ``jksim://`` URL handler, the pty server) feed it the bytes they receive and send the
:class:`Chunk` list it returns, waiting ``delay_s`` before each chunk. Thread-safe: a demo may steer a
simulator while a transport serves it.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import threading

from gateway_core.simkit import Chunk

from .decode import JkStatus
from .encode import encode_reply
from .faults import FAULTS, render_fault
from .protocol import COMMAND_READ_ALL, COMMAND_READ_ID, FrameAssembler

#: LiFePO4 open-circuit voltage by cell SOC (%); above 100 % the cell is overcharged.
OCV_CURVE = (
    (0.0, 2.50), (3.0, 2.90), (6.0, 3.10), (10.0, 3.20), (20.0, 3.25), (30.0, 3.28), (40.0, 3.29),
    (50.0, 3.30), (60.0, 3.31), (70.0, 3.325), (80.0, 3.335), (90.0, 3.345), (95.0, 3.36),
    (97.0, 3.40), (98.5, 3.45), (99.3, 3.50), (100.0, 3.55), (101.0, 3.60), (102.0, 3.70),
)  # fmt: skip


def ocv(soc_pct: float) -> float:
    """Open-circuit voltage of one LiFePO4 cell at ``soc_pct`` (linear between table points)."""
    socs = [point[0] for point in OCV_CURVE]
    if soc_pct <= socs[0]:
        return OCV_CURVE[0][1]
    if soc_pct >= socs[-1]:
        return OCV_CURVE[-1][1]
    i = bisect.bisect_right(socs, soc_pct)
    (s0, v0), (s1, v1) = OCV_CURVE[i - 1], OCV_CURVE[i]
    return v0 + (v1 - v0) * (soc_pct - s0) / (s1 - s0)


class SimulatedBms:
    """A JK BMS with a LiFePO4 pack: cells follow SOC and current; protections act like the real one."""

    def __init__(
        self,
        cells: int = 16,
        soc_pct: float = 50.0,
        current_a: float = 0.0,
        capacity_ah: float = 280.0,
        temperature_c: float = 25.0,
        *,
        protocol_version: int | None = 1,
        cycles: int = 10,
        charge_ocp_a: int = 100,
        discharge_ocp_a: int = 150,
        drift: bool = False,
        drift_amplitude_a: float = 20.0,
        drift_period_s: float = 120.0,
        cell_spread_pct: float = 1.5,
        resistance_ohm: float = 0.0005,
        split_pause_s: float = 0.05,
        trickle_byte_s: float = 0.005,
        seed: int = 1,
    ) -> None:
        if not 3 <= cells <= 32:
            raise ValueError(f"cells = {cells}: a JK BMS handles 3 to 32 cells")
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.cells = cells
        self.capacity_ah = capacity_ah
        self.protocol_version = protocol_version
        self.charge_ocp_a = charge_ocp_a
        self.discharge_ocp_a = discharge_ocp_a
        self.resistance_ohm = resistance_ohm
        self.split_pause_s = split_pause_s
        self.trickle_byte_s = trickle_byte_s
        self.ambient_c = temperature_c
        self._offsets = [self._rng.uniform(-cell_spread_pct, cell_spread_pct) for _ in range(cells)]
        self._soc = float(soc_pct)
        self._current = float(current_a)
        self._temperature = float(temperature_c)
        self._cycles = cycles
        self._discharged_ah = 0.0
        self._charge_switch = self._discharge_switch = True
        self._ovp = self._uvp = False  # protections latched by the BMS until the cells recover
        self._extra_alarms = 0
        self._zero_cells: set[int] = set()
        self._drift = drift
        self._drift_amplitude_a = drift_amplitude_a
        self._drift_period_s = drift_period_s
        self._drift_elapsed_s = 0.0
        self._faults: dict[str, int | None] = {}
        self._rx = FrameAssembler()
        self.booting = False
        self.unplugged = False
        self.requests = 0
        if drift and current_a == 0:
            self._current = drift_amplitude_a

    # -- steering -----------------------------------------------------------------------------

    def set_current(self, amps: float) -> None:
        """Set the pack current the load/charger draws (+ = charging)."""
        with self._lock:
            self._current = float(amps)

    def set_soc(self, soc_pct: float) -> None:
        """Jump to ``soc_pct``."""
        with self._lock:
            self._soc = min(100.0, max(0.0, float(soc_pct)))

    def set_drift(self, on: bool, amplitude_a: float | None = None, period_s: float | None = None) -> None:
        """Alternate charge and discharge at ``amplitude_a`` every half ``period_s`` (and at SOC ends)."""
        with self._lock:
            self._drift = on
            self._drift_amplitude_a = amplitude_a if amplitude_a is not None else self._drift_amplitude_a
            self._drift_period_s = period_s if period_s is not None else self._drift_period_s
            self._drift_elapsed_s = 0.0
            if on:
                self._current = self._drift_amplitude_a if self._current >= 0 else -self._drift_amplitude_a

    def set_alarm_word(self, word: int) -> None:
        """Force 0x8B bits (OR'ed with the alarms the state raises by itself)."""
        with self._lock:
            self._extra_alarms = word & 0xFFFF

    def set_cell_zero(self, cell: int, zero: bool = True) -> None:
        """Make cell ``cell`` (1-based) read 0 mV, like a broken sense wire."""
        with self._lock:
            (self._zero_cells.add if zero else self._zero_cells.discard)(cell)

    def set_mosfets(self, charge: bool, discharge: bool) -> None:
        """Switch the MOSFETs (the BMS also switches them itself on OVP/UVP)."""
        with self._lock:
            self._charge_switch, self._discharge_switch = charge, discharge

    def set_cell_count(self, cells: int) -> None:
        """Report ``cells`` cells from the next reply on (a self-consistent reply, as a broken BMS might)."""
        if not 3 <= cells <= 32:
            raise ValueError(f"cells = {cells}: a JK BMS handles 3 to 32 cells")
        with self._lock:
            while len(self._offsets) < cells:
                self._offsets.append(self._rng.uniform(-1.5, 1.5))
            self.cells = cells

    def source_settings(self, port: str) -> dict[str, object]:
        """The ``jk_uart`` config keys that read this simulator on ``port``."""
        return {"port": port}

    def unplug(self) -> None:
        """Simulate the adapter being pulled: transports fail until :meth:`plug`."""
        with self._lock:
            self.unplugged = True

    def plug(self) -> None:
        """Plug the adapter back in."""
        with self._lock:
            self.unplugged = False

    def inject(self, fault: str, count: int | None = None) -> None:
        """Apply ``fault`` (one of :data:`FAULTS`) to the next ``count`` replies (``None``: until cleared)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults[fault] = count

    def clear_faults(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._faults.clear()

    # -- physics ------------------------------------------------------------------------------

    @property
    def charge_mosfet_on(self) -> bool:
        """Charge MOSFET: switched on and no over-voltage protection latched."""
        return self._charge_switch and not self._ovp

    @property
    def discharge_mosfet_on(self) -> bool:
        """Discharge MOSFET: switched on and no under-voltage protection latched."""
        return self._discharge_switch and not self._uvp

    @property
    def current_a(self) -> float:
        """The current actually flowing: 0 in a direction whose MOSFET is off."""
        with self._lock:
            if (self._current > 0 and not self.charge_mosfet_on) or (
                self._current < 0 and not self.discharge_mosfet_on
            ):
                return 0.0
            return self._current

    def true_cell_voltages(self) -> tuple[float, ...]:
        """Real cell voltages (mV resolution): OCV at each cell's SOC plus the IR drop."""
        with self._lock:
            amps = self.current_a
            return tuple(
                round(ocv(self._soc + offset) + amps * self.resistance_ohm, 3)
                for offset in self._offsets[: self.cells]
            )

    def cell_voltages(self) -> tuple[float, ...]:
        """Cell voltages as the BMS reports them: a cell set to zero reads 0 mV."""
        with self._lock:
            cells = self.true_cell_voltages()
            return tuple(0.0 if n in self._zero_cells else v for n, v in enumerate(cells, start=1))

    def step(self, dt_s: float) -> None:
        """Advance the battery by ``dt_s`` seconds: drift, SOC, temperature, cycles, protections."""
        if dt_s <= 0:
            return
        with self._lock:
            if self._drift:
                self._drift_elapsed_s += dt_s
                flip = self._drift_elapsed_s >= self._drift_period_s / 2
                flip |= (self._current > 0 and self._soc >= 99.0) or (self._current < 0 and self._soc <= 10.0)
                if flip:
                    self._current = -self._drift_amplitude_a if self._current > 0 else self._drift_amplitude_a
                    self._drift_elapsed_s = 0.0
            amps = self.current_a
            self._soc = min(100.0, max(0.0, self._soc + amps * dt_s / 3600 / self.capacity_ah * 100))
            if amps < 0:
                self._discharged_ah -= amps * dt_s / 3600
            target = self.ambient_c + 0.02 * abs(amps)
            self._temperature += (target - self._temperature) * min(1.0, dt_s / 600)
            self._protect()

    def _protect(self) -> None:
        cells = self.true_cell_voltages()
        if max(cells) >= 3.65:
            self._ovp = True
        elif max(cells) < 3.55:
            self._ovp = False
        if min(cells) <= 2.65:
            self._uvp = True
        elif min(cells) > 2.75:
            self._uvp = False

    @property
    def status(self) -> JkStatus:
        """The :class:`JkStatus` the next reply encodes."""
        with self._lock:
            cells = self.cell_voltages()
            live = [v for n, v in enumerate(cells, start=1) if n not in self._zero_cells]
            amps = round(self.current_a, 2)
            alarms = self._extra_alarms | (1 if self._soc < 20 else 0)
            alarms |= (1 << 10 if self._ovp else 0) | (1 << 11 if self._uvp else 0)
            balancing = bool(live) and amps > 0 and max(live) >= 3.45 and max(live) - min(live) >= 0.01
            status_word = (
                int(self.charge_mosfet_on) | int(self.discharge_mosfet_on) << 1 | int(balancing) << 2 | 8
            )
            return JkStatus(
                cell_voltages_v=cells,
                voltage_v=round(sum(self.true_cell_voltages()), 2),
                current_a=amps,
                soc_pct=0 if self.booting else round(self._soc),
                mosfet_temperature_c=float(round(self._temperature + 2 + 0.03 * abs(amps))),
                t1_temperature_c=float(round(self._temperature)),
                t2_temperature_c=float(round(self._temperature - 0.5)),
                cycle_count=0
                if self.booting
                else self._cycles + int(self._discharged_ah // self.capacity_ah),
                total_cycle_capacity_ah=int(self._discharged_ah),
                capacity_ah=round(self.capacity_ah),
                actual_capacity_ah=round(self.capacity_ah) if self.protocol_version is not None else None,
                alarm_word=alarms,
                status_word=status_word,
                pack_ovp_v=round(3.65 * self.cells, 2),
                pack_uvp_v=round(2.65 * self.cells, 2),
                cell_ovp_v=3.65,
                cell_ovp_recovery_v=3.55,
                cell_uvp_v=2.65,
                cell_uvp_recovery_v=2.75,
                cell_difference_protection_v=0.3,
                discharge_ocp_a=self.discharge_ocp_a,
                charge_ocp_a=self.charge_ocp_a,
                balance_start_v=3.45,
                balance_trigger_v=0.01,
                software_version="11.XW_S11.26SIM",
                device_id="SIM00001",
                manufacturer_id="battery-gateway-jksim" if self.protocol_version is not None else None,
                production_date="2401",
                protocol_version=self.protocol_version,
            )

    # -- the byte protocol --------------------------------------------------------------------

    def encode_reply(self, command: int = COMMAND_READ_ALL) -> bytes:
        """A valid reply frame for the current state."""
        return encode_reply(self.status, command=command)

    def respond(self, data: bytes) -> list[Chunk]:
        """Feed received bytes; return what to send for every complete read request in them."""
        with self._lock:
            chunks: list[Chunk] = []
            for frame in self._rx.feed(data):
                if not frame.is_request or frame.command not in (COMMAND_READ_ALL, COMMAND_READ_ID):
                    continue
                self.requests += 1
                reply = self.encode_reply(frame.command)
                if "nonsense" in self._faults:
                    reply = encode_reply(dataclasses.replace(self.status, soc_pct=255), command=frame.command)
                chunks += self._answer(frame.raw, reply)
            return chunks

    def reply(self, request: bytes) -> bytes:
        """All bytes answered to ``request``, ignoring timing (faults still apply)."""
        return b"".join(chunk.data for chunk in self.respond(request))

    def _answer(self, request: bytes, frame: bytes) -> list[Chunk]:
        fault = next((name for name in FAULTS if name in self._faults), None)
        if fault is None:
            return [Chunk(0.0, frame)]
        if fault == "nonsense":
            self._use_fault(fault)
            return [Chunk(0.0, frame)]
        self._use_fault(fault)
        return render_fault(fault, request, frame, self._rng, self.split_pause_s, self.trickle_byte_s)

    def _use_fault(self, fault: str) -> None:
        count = self._faults[fault]
        if count is not None and count <= 1:
            del self._faults[fault]
        elif count is not None:
            self._faults[fault] = count - 1


_REGISTRY: dict[str, SimulatedBms] = {}
_REGISTRY_LOCK = threading.Lock()


def get_simulator(name: str, **kwargs: object) -> SimulatedBms:
    """The simulator shared under ``name``, created with ``kwargs`` on first use (later kwargs ignored)."""
    with _REGISTRY_LOCK:
        sim = _REGISTRY.get(name)
        if sim is None:
            sim = _REGISTRY[name] = SimulatedBms(**kwargs)  # type: ignore[arg-type]
        return sim


def forget_simulator(name: str | None = None) -> None:
    """Drop the shared simulator ``name`` (all of them with ``None``), e.g. between tests."""
    with _REGISTRY_LOCK:
        if name is None:
            _REGISTRY.clear()
        else:
            _REGISTRY.pop(name, None)
