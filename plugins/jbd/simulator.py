"""A simulated JBD BMS that speaks the real "DD … 77" byte protocol (pure: no port, no clock).

:class:`SimulatedJbd` keeps a LiFePO4 pack's state (SOC, current, per-cell spread, temperature),
drifts it with :meth:`~SimulatedJbd.step` and answers read requests for 0x03, 0x04 and 0x05 with
valid replies, or with injected faults; it implements :class:`gateway_core.simkit.SimulatedDevice`.
Other read registers are refused (status 0x80); write requests are ignored. Thread-safe.
"""

from __future__ import annotations

import bisect
import random
import threading
from typing import Any

from gateway_core.simkit import Chunk

from .assembler import FrameAssembler
from .decode import MAX_CELLS, BasicInfo
from .encode import encode_basic, encode_cells, encode_name
from .faults import FAULTS, render_fault, status_error
from .protocol import READ, REG_BASIC, REG_CELLS, REG_NAME, build_reply
from .upseries import build_up_frame

#: LiFePO4 open-circuit voltage by SOC (%).
OCV = ((0, 2.50), (5, 3.00), (10, 3.20), (20, 3.25), (40, 3.29), (60, 3.31), (80, 3.335),
       (90, 3.345), (95, 3.36), (98, 3.42), (99.5, 3.50), (100, 3.55), (102, 3.70))  # fmt: skip
OVP_V, OVP_RELEASE_V, UVP_V, UVP_RELEASE_V = 3.65, 3.55, 2.50, 2.80


def ocv(soc_pct: float) -> float:
    """Open-circuit voltage of one LiFePO4 cell at ``soc_pct`` (linear between table points)."""
    socs = [point[0] for point in OCV]
    soc = min(max(soc_pct, socs[0]), socs[-1])
    i = min(max(bisect.bisect_right(socs, soc), 1), len(OCV) - 1)
    (s0, v0), (s1, v1) = OCV[i - 1], OCV[i]
    return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


def check_cells(cells: int) -> None:
    """Refuse a cell count a JBD board cannot have. :raises ValueError:."""
    if not 3 <= cells <= MAX_CELLS:
        raise ValueError(f"cells = {cells}: a JBD BMS handles 3 to {MAX_CELLS} cells")


class SimulatedJbd:
    """A JBD BMS on a LiFePO4 pack; its own protections switch the MOSFETs like the real one."""

    def __init__(
        self,
        cells: int = 16,
        soc_pct: float = 50.0,
        current_a: float = 0.0,
        capacity_ah: float = 100.0,
        temperature_c: float = 25.0,
        *,
        ntc_count: int = 3,
        cycles: int = 12,
        name: str = "JBD-SP25S003-L16S-100A-SIM",
        resistance_ohm: float = 0.001,
        split_pause_s: float = 0.05,
        trickle_byte_s: float = 0.01,
        seed: int = 1,
    ) -> None:
        check_cells(cells)
        if not 0 <= ntc_count <= 8:
            raise ValueError(f"ntc_count = {ntc_count}: 0 to 8")
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.cells = cells
        self.capacity_ah = capacity_ah
        self.ntc_count = ntc_count
        self.name = name
        self.resistance_ohm = resistance_ohm
        self.split_pause_s = split_pause_s
        self.trickle_byte_s = trickle_byte_s
        self._offsets = [self._rng.uniform(-1.0, 1.0) for _ in range(MAX_CELLS)]
        self._soc = float(soc_pct)
        self._current = float(current_a)
        self._temperature = float(temperature_c)
        self._cycles = cycles
        self._discharged_ah = 0.0
        self._ovp = self._uvp = False
        self._protection_extra = 0
        self._faults: dict[str, int | None] = {}
        self._rx = FrameAssembler()
        self.unplugged = False
        self.requests = 0

    # -- steering (SimulatedDevice and extras) ---------------------------------------------------

    def set_current(self, amps: float) -> None:
        """Set the pack current the load/charger draws (+ = charging)."""
        with self._lock:
            self._current = float(amps)

    def set_soc(self, soc_pct: float) -> None:
        """Jump to ``soc_pct``."""
        with self._lock:
            self._soc = min(100.0, max(0.0, float(soc_pct)))

    def set_protection_bits(self, bits: int) -> None:
        """Force protection bits (OR'ed with those the state raises itself)."""
        with self._lock:
            self._protection_extra = bits & 0xFFFF

    def set_cell_count(self, cells: int) -> None:
        """Report ``cells`` cells from the next reply on, in self-consistent 0x03 and 0x04 replies."""
        check_cells(cells)
        with self._lock:
            self.cells = cells

    def source_settings(self, port: str) -> dict[str, Any]:
        """The ``jbd`` config keys that read this simulator on ``port``."""
        return {"port": port}

    def unplug(self) -> None:
        """Vanish like a pulled USB adapter: transports fail until :meth:`plug`."""
        with self._lock:
            self.unplugged = True

    def plug(self) -> None:
        """Come back after :meth:`unplug`."""
        with self._lock:
            self.unplugged = False

    def inject(self, fault: str, count: int | None = None) -> None:
        """Apply ``fault`` (see :data:`jbd.faults.FAULTS`) to the next ``count`` replies (None: for ever)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults[fault] = count

    def clear_faults(self) -> None:
        """Answer correctly again."""
        with self._lock:
            self._faults.clear()

    # -- physics ---------------------------------------------------------------------------------

    @property
    def current_a(self) -> float:
        """The current flowing: 0 in a direction whose MOSFET the protections switched off."""
        with self._lock:
            if (self._current > 0 and self._ovp) or (self._current < 0 and self._uvp):
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
            self._soc = min(100.0, max(0.0, self._soc + amps * dt_s / 36 / self.capacity_ah))
            if amps < 0:
                self._discharged_ah -= amps * dt_s / 3600
            self._temperature += (25.0 + 0.02 * abs(amps) - self._temperature) * min(1.0, dt_s / 600)
            cells = self.cell_voltages()
            self._ovp = max(cells) >= OVP_V or (self._ovp and max(cells) > OVP_RELEASE_V)
            self._uvp = min(cells) <= UVP_V or (self._uvp and min(cells) < UVP_RELEASE_V)

    def basic_info(self) -> BasicInfo:
        """The :class:`BasicInfo` the next 0x03 reply encodes."""
        with self._lock:
            cells = self.cell_voltages()
            amps = round(self.current_a, 2)
            balancing = amps > 0 and max(cells) >= 3.40 and max(cells) - min(cells) >= 0.01
            balance = sum(1 << n for n, v in enumerate(cells) if balancing and v >= max(cells) - 0.005)
            protection = self._protection_extra | (1 if self._ovp else 0) | (2 if self._uvp else 0)
            fets = (0 if self._ovp else 1) | (0 if self._uvp else 2)
            return BasicInfo(
                voltage_v=round(sum(cells), 2),
                current_a=amps,
                remaining_capacity_ah=round(self.capacity_ah * self._soc / 100, 2),
                nominal_capacity_ah=round(self.capacity_ah, 2),
                cycle_count=self._cycles + int(self._discharged_ah // self.capacity_ah),
                manufacture_date="2024-05-17",
                balance_bits=balance,
                protection_bits=protection,
                software_version="8.0",
                soc_pct=round(self._soc),
                fet_bits=fets,
                cell_count=self.cells,
                temperatures_c=tuple(round(self._temperature + 0.3 * i, 1) for i in range(self.ntc_count)),
            )

    # -- the byte protocol -----------------------------------------------------------------------

    def reply_for(self, register: int) -> bytes:
        """A valid reply to a read of ``register`` (status 0x80 for one this BMS does not know)."""
        with self._lock:
            if register == REG_BASIC:
                return build_reply(register, encode_basic(self.basic_info()))
            if register == REG_CELLS:
                return build_reply(register, encode_cells(self.cell_voltages()))
            if register == REG_NAME:
                return build_reply(register, encode_name(self.name))
            return status_error(register)

    def respond(self, data: bytes) -> list[Chunk]:
        """Feed received bytes; return what to send for every complete read request in them."""
        with self._lock:
            chunks: list[Chunk] = []
            for frame in self._rx.feed(data):
                if not frame.request or frame.raw[1] != READ:
                    continue
                self.requests += 1
                chunks += self._answer(frame.raw, frame.register)
            return chunks

    def reply(self, request: bytes) -> bytes:
        """All bytes answered to ``request``, ignoring timing (faults still apply)."""
        return b"".join(chunk.data for chunk in self.respond(request))

    def _answer(self, request: bytes, register: int) -> list[Chunk]:
        fault = next((name for name in FAULTS if name in self._faults), None)
        frame = self.reply_for(register)
        if fault is None:
            return [Chunk(0.0, frame)]
        count = self._faults[fault]
        if count is not None and count <= 1:
            del self._faults[fault]
        elif count is not None:
            self._faults[fault] = count - 1
        if fault == "nonsense":
            frame = self._nonsense(register, frame)
        elif fault == "status_error":
            frame = status_error(register)
        elif fault == "wrong_register":
            frame = self.reply_for(REG_CELLS if register == REG_BASIC else REG_BASIC)
        elif fault == "up16s":
            frame = build_up_frame(1, 0x78, 0x1000, 0x10A0, bytes(self._rng.randbytes(40)))
        return render_fault(fault, request, frame, self._rng, self.split_pause_s, self.trickle_byte_s)

    def _nonsense(self, register: int, frame: bytes) -> bytes:
        """Valid framing, impossible content: SOC 255 % in 0x03, one cell too few in 0x04."""
        if register == REG_BASIC:
            data = bytearray(frame[4:-3])
            data[19] = 255
            return build_reply(register, bytes(data))
        if register == REG_CELLS:
            return build_reply(register, encode_cells(self.cell_voltages()[:-1]))
        return frame


_REGISTRY: dict[str, SimulatedJbd] = {}
_REGISTRY_LOCK = threading.Lock()


def get_simulator(name: str, **kwargs: Any) -> SimulatedJbd:
    """The simulator shared under ``name``, created with ``kwargs`` on first use (later kwargs ignored)."""
    with _REGISTRY_LOCK:
        sim = _REGISTRY.get(name)
        if sim is None:
            sim = _REGISTRY[name] = SimulatedJbd(**kwargs)
        return sim


def forget_simulator(name: str | None = None) -> None:
    """Drop the shared simulator ``name`` (all of them with None), e.g. between tests."""
    with _REGISTRY_LOCK:
        if name is None:
            _REGISTRY.clear()
        else:
            _REGISTRY.pop(name, None)
