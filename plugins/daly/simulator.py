"""A simulated Daly BMS that speaks the real 13-byte protocol (pure: no port, no clock).

:class:`SimulatedDaly` keeps a LiFePO4 pack (SOC, current, per-cell offsets, temperature), drifts it
with :meth:`~SimulatedDaly.step` and answers the read requests addressed to its board with valid
frames: several back-to-back frames for 0x95 and 0x96, reserved bytes repeating its previous reply
(stale, as real units send), nothing at all for the ids it ``refuse``-s, and, with ``inverted``, the
minority current sign (raw above 30000 while charging). It implements
:class:`gateway_core.simkit.SimulatedDevice`, so the core's pty server and the shared contract tests
drive it. Thread-safe: a test may steer it while a transport serves it.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import threading
from collections.abc import Iterable

from gateway_core.simkit import Chunk

from .encode import DalyState, reply_frames
from .faults import FAULTS, render_fault
from .protocol import MAX_BOARD, POLL_IDS, FrameAssembler, request_address

#: LiFePO4 open-circuit voltage by cell SOC (%).
OCV_CURVE = (
    (0.0, 2.50), (5.0, 3.00), (10.0, 3.20), (20.0, 3.25), (40.0, 3.29), (60.0, 3.31), (80.0, 3.335),
    (95.0, 3.36), (98.5, 3.45), (100.0, 3.55), (102.0, 3.70),
)  # fmt: skip
STATE_THRESHOLD_A = 0.5  # the BMS leaves "stationary" above this current
OVP_V, OVP_RECOVER_V, UVP_V, UVP_RECOVER_V = 3.65, 3.55, 2.65, 2.75
MAX_CELLS = 48


def ocv(soc_pct: float) -> float:
    """Open-circuit voltage of one LiFePO4 cell at ``soc_pct`` (linear between table points)."""
    socs = [point[0] for point in OCV_CURVE]
    soc = min(max(soc_pct, socs[0]), socs[-1])
    i = min(bisect.bisect_right(socs, soc), len(socs) - 1)
    (s0, v0), (s1, v1) = OCV_CURVE[i - 1], OCV_CURVE[i]
    return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


class SimulatedDaly:
    """A Daly BMS at board ``board`` with a LiFePO4 pack; protections act like the real one."""

    def __init__(
        self,
        cells: int = 16,
        probes: int = 2,
        soc_pct: float = 50.0,
        current_a: float = 0.0,
        capacity_ah: float = 280.0,
        temperature_c: float = 25.0,
        *,
        board: int = 1,
        baudrate: int = 9600,
        refuse: Iterable[int] = (),
        inverted: bool = False,
        cycles: int = 10,
        resistance_ohm: float = 0.0005,
        split_pause_s: float = 0.008,
        trickle_byte_s: float = 0.04,
        seed: int = 1,
    ) -> None:
        _check_cells(cells)
        if not 1 <= board <= MAX_BOARD:
            raise ValueError(f"board {board} outside 1..{MAX_BOARD}")
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.cells, self.probes, self.board = cells, probes, board
        self.baudrate = baudrate  # what source_settings() tells the source; transports pace at it
        self.capacity_ah = capacity_ah
        self.refused = frozenset(refuse)
        self.inverted = inverted
        self.resistance_ohm = resistance_ohm
        self.split_pause_s, self.trickle_byte_s = split_pause_s, trickle_byte_s
        self._offsets = [self._rng.uniform(-1.0, 1.0) for _ in range(MAX_CELLS)]
        self._soc, self._current, self._temperature = float(soc_pct), float(current_a), float(temperature_c)
        self.ambient_c = float(temperature_c)
        self._cycles = cycles
        self._charge_switch = self._discharge_switch = True
        self._ovp = self._uvp = False
        self._failures: tuple[str, ...] = ()
        self._faults: dict[str, int | None] = {}
        self._rx = FrameAssembler()
        self._stale = bytes(8)
        self.unplugged = False
        self.requests = 0
        self.asked: list[int] = []  # the data ids requested, in order (for tests)

    # -- steering -----------------------------------------------------------------------------

    def set_current(self, amps: float) -> None:
        """Set the current the charger/load drives (+ = charging)."""
        with self._lock:
            self._current = float(amps)

    def set_soc(self, soc_pct: float) -> None:
        """Jump to ``soc_pct``."""
        with self._lock:
            self._soc = min(100.0, max(0.0, float(soc_pct)))

    def set_temperature(self, celsius: float) -> None:
        """Set the pack (and ambient) temperature."""
        with self._lock:
            self._temperature = self.ambient_c = float(celsius)

    def set_failures(self, names: Iterable[str]) -> None:
        """Force 0x98 failure bits (names of :data:`daly.decode.FAILURE_NAMES`), besides OVP/UVP."""
        with self._lock:
            self._failures = tuple(names)

    def set_mosfets(self, charge: bool, discharge: bool) -> None:
        """Switch the MOSFETs (the BMS also switches them itself on OVP/UVP)."""
        with self._lock:
            self._charge_switch, self._discharge_switch = charge, discharge

    def set_refused(self, ids: Iterable[int]) -> None:
        """From now on, do not answer these data ids at all (as some firmwares do)."""
        with self._lock:
            self.refused = frozenset(ids)

    def set_cell_count(self, cells: int) -> None:
        """Report ``cells`` cells from the next reply on (0x94 and 0x95 agree, as a reconfigured unit)."""
        _check_cells(cells)
        with self._lock:
            self.cells = cells

    def source_settings(self, port: str) -> dict[str, object]:
        """The ``daly`` config keys that read this simulator on ``port`` (no pause between requests:
        the simulator, unlike real firmware, answers at once)."""
        return {
            "port": port, "address": self.board, "invert_current": self.inverted, "baudrate": self.baudrate,
            "bus_gap_s": 0.0,
        }  # fmt: skip

    def unplug(self) -> None:
        """Vanish like a pulled adapter: transports fail until :meth:`plug`."""
        with self._lock:
            self.unplugged = True

    def plug(self) -> None:
        """Come back after :meth:`unplug`."""
        with self._lock:
            self.unplugged = False

    def inject(self, fault: str, count: int | None = None) -> None:
        """Apply ``fault`` to the next ``count`` replies (``None``: until cleared).

        ``nonsense`` counts only the 0x90 replies it turns impossible (SOC 150 %).
        """
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
    def current_a(self) -> float:
        """The current actually flowing: 0 in a direction whose MOSFET is off."""
        with self._lock:
            charge_on = self._charge_switch and not self._ovp
            discharge_on = self._discharge_switch and not self._uvp
            if (self._current > 0 and not charge_on) or (self._current < 0 and not discharge_on):
                return 0.0
            return self._current

    def cell_voltages(self) -> tuple[float, ...]:
        """Cell voltages (mV resolution): OCV at each cell's SOC plus the IR drop."""
        with self._lock:
            amps = self.current_a
            return tuple(
                round(ocv(self._soc + offset) + amps * self.resistance_ohm, 3)
                for offset in self._offsets[: self.cells]
            )

    def step(self, dt_s: float) -> None:
        """Advance the pack by ``dt_s`` seconds: SOC, temperature, cycles, protections."""
        if dt_s <= 0:
            return
        with self._lock:
            amps = self.current_a
            self._soc = min(100.0, max(0.0, self._soc + amps * dt_s / 3600 / self.capacity_ah * 100))
            target = self.ambient_c + 0.02 * abs(amps)
            self._temperature += (target - self._temperature) * min(1.0, dt_s / 600)
            cells = self.cell_voltages()
            self._ovp = max(cells) >= OVP_V or (self._ovp and max(cells) >= OVP_RECOVER_V)
            self._uvp = min(cells) <= UVP_V or (self._uvp and min(cells) <= UVP_RECOVER_V)

    @property
    def status(self) -> DalyState:
        """The :class:`DalyState` the next replies encode."""
        with self._lock:
            cells = self.cell_voltages()
            amps = round(self.current_a, 1)
            state = "stationary"
            if amps >= STATE_THRESHOLD_A:
                state = "charging"
            elif amps <= -STATE_THRESHOLD_A:
                state = "discharging"
            failures = self._failures
            failures += ("cell_voltage_high_l2",) if self._ovp else ()
            failures += ("cell_voltage_low_l2",) if self._uvp else ()
            temps = tuple(float(round(self._temperature - 0.5 * i)) for i in range(self.probes))
            return DalyState(
                cell_voltages_v=cells,
                temperatures_c=temps,
                voltage_v=round(sum(cells), 1),
                current_a=amps,
                soc_pct=round(self._soc, 1),
                state=state,
                charge_mosfet_on=self._charge_switch and not self._ovp,
                discharge_mosfet_on=self._discharge_switch and not self._uvp,
                bms_life=self.requests & 0xFF,
                remaining_capacity_ah=round(self.capacity_ah * self._soc / 100, 3),
                charger_connected=amps > 0,
                load_connected=amps < 0,
                cycle_count=self._cycles,
                failures=tuple(dict.fromkeys(failures)),
                inverted_current=self.inverted,
            )

    # -- the byte protocol --------------------------------------------------------------------

    def respond(self, data: bytes) -> list[Chunk]:
        """Feed received bytes; return what to send for every complete request to this board in them."""
        with self._lock:
            chunks: list[Chunk] = []
            for frame in self._rx.feed(data):
                if not frame.is_request or frame.address != request_address(self.board):
                    continue  # another board's request, or a reply on a shared line
                if frame.data_id not in POLL_IDS:
                    continue
                self.requests += 1
                self.asked.append(frame.data_id)
                if frame.data_id in self.refused:
                    continue
                chunks += self._answer(frame.raw, frame.data_id)
            return chunks

    def reply(self, request: bytes) -> bytes:
        """All bytes answered to ``request``, ignoring timing (faults still apply)."""
        return b"".join(chunk.data for chunk in self.respond(request))

    def _answer(self, request: bytes, data_id: int) -> list[Chunk]:
        state = self.status
        nonsense = "nonsense" in self._faults and data_id == 0x90
        if nonsense:
            state = dataclasses.replace(state, soc_pct=150.0)
        frames = reply_frames(state, data_id, self.board, self._stale)
        if frames:
            self._stale = frames[-1][4:12]
        fault = (
            "nonsense"
            if nonsense
            else next((f for f in FAULTS if f in self._faults and f != "nonsense"), None)
        )
        if fault is None:
            return [Chunk(0.0, frame) for frame in frames]
        self._use_fault(fault)
        return render_fault(fault, request, frames, self._rng, self.split_pause_s, self.trickle_byte_s)

    def _use_fault(self, fault: str) -> None:
        count = self._faults[fault]
        if count is not None and count <= 1:
            del self._faults[fault]
        elif count is not None:
            self._faults[fault] = count - 1


def _check_cells(cells: int) -> None:
    if not 1 <= cells <= MAX_CELLS:
        raise ValueError(f"cells = {cells}: a Daly BMS handles 1 to {MAX_CELLS} cells")


_REGISTRY: dict[str, SimulatedDaly] = {}
_REGISTRY_LOCK = threading.Lock()


def get_simulator(name: str, **kwargs: object) -> SimulatedDaly:
    """The simulator shared under ``name``, created with ``kwargs`` on first use (later kwargs ignored)."""
    with _REGISTRY_LOCK:
        sim = _REGISTRY.get(name)
        if sim is None:
            sim = _REGISTRY[name] = SimulatedDaly(**kwargs)  # type: ignore[arg-type]
        return sim


def forget_simulator(name: str | None = None) -> None:
    """Drop the shared simulator ``name`` (all of them with ``None``), e.g. between tests."""
    with _REGISTRY_LOCK:
        if name is None:
            _REGISTRY.clear()
        else:
            _REGISTRY.pop(name, None)
