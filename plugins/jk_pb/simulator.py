"""A simulated JK-PB RS485 line: any number of addressed packs answering the real bytes (pure).

:class:`SimulatedLine` is one :class:`~gateway_core.simkit.SimulatedDevice` (served on one pty by
:class:`gateway_core.ptysim.PtyServer`, or behind ``jkpbsim://``) that holds several
:class:`~jk_pb.pack.SimulatedPack`. Each function-0x10 trigger on the line is answered by the pack
at its address, as a JK-PB does: the bare 300-byte record, ``00``, the 8-byte ACK, ``00``. A pack that
is offline, or an address with no pack, stays silent. Faults are injected for the whole line
(:meth:`SimulatedLine.inject`, what the shared contract tests use) or for one pack
(:meth:`SimulatedLine.inject_pack`); a pack with ``delay_s`` answers late (a hung pack).
"""

from __future__ import annotations

import dataclasses
import random
import threading

from gateway_core.simkit import Chunk

from .encode import encode_cell_info, encode_device_info, encode_settings
from .faults import FAULTS, render_fault
from .layout import LAYOUT_32S
from .modbus import FRAME_TYPES, REGISTERS, build_ack
from .pack import SimulatedPack
from .records import CELL_INFO, SETTINGS
from .stream import Request, StreamParser

#: Line time the BMS takes before it answers (captures show ~10 ms).
ANSWER_DELAY_S = 0.005


class SimulatedLine:
    """Packs at ``addresses`` on one RS485 line (they share ``cells``, ``soc_pct``, ... at start)."""

    def __init__(
        self,
        addresses: tuple[int, ...] = (1,),
        cells: int = 16,
        soc_pct: float = 60.0,
        current_a: float = 0.0,
        capacity_ah: float = 280.0,
        temperature_c: float = 20.0,
        *,
        layout: str = LAYOUT_32S,
        split_pause_s: float = 0.03,
        trickle_byte_s: float = 0.004,
        seed: int = 1,
    ) -> None:
        if not addresses or len(set(addresses)) != len(addresses):
            raise ValueError(f"addresses {addresses}: give distinct addresses")
        for address in addresses:
            if not 1 <= address <= 15:
                raise ValueError(f"address {address}: a JK-PB pack answers at 1 to 15")
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.packs = {
            a: SimulatedPack(a, cells, soc_pct, current_a, capacity_ah, temperature_c, layout=layout)
            for a in addresses
        }
        self.split_pause_s = split_pause_s
        self.trickle_byte_s = trickle_byte_s
        self._faults: dict[str, int | None] = {}
        self._pack_faults: dict[int, dict[str, int | None]] = {a: {} for a in addresses}
        self.delay_s: dict[int, float] = dict.fromkeys(addresses, 0.0)
        self._rx = StreamParser()
        self.unplugged = False
        self.requests = 0
        self.answered: dict[int, int] = dict.fromkeys(addresses, 0)

    # -- the SimulatedDevice protocol ---------------------------------------------------------

    def pack(self, address: int) -> SimulatedPack:
        """The pack at ``address``. :raises KeyError: none there."""
        return self.packs[address]

    def step(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds pass for every pack."""
        for pack in self.packs.values():
            pack.step(dt_s)

    def inject(self, fault: str, count: int | None = None) -> None:
        """Every pack's next ``count`` replies (``None``: until cleared) suffer ``fault``."""
        self._check(fault)
        with self._lock:
            self._faults[fault] = count

    def inject_pack(self, address: int, fault: str, count: int | None = None) -> None:
        """The pack at ``address`` alone suffers ``fault`` in its next ``count`` replies."""
        self._check(fault)
        with self._lock:
            self._pack_faults[address][fault] = count

    def clear_faults(self) -> None:
        """Answer normally again (line and packs)."""
        with self._lock:
            self._faults.clear()
            for faults in self._pack_faults.values():
                faults.clear()

    def unplug(self) -> None:
        """The USB adapter is pulled: the pty server closes the tty."""
        self.unplugged = True

    def plug(self) -> None:
        """The adapter is back."""
        self.unplugged = False

    def drop(self, address: int) -> None:
        """The pack at ``address`` drops off the line (it stops answering)."""
        self.packs[address].online = False

    def restore(self, address: int) -> None:
        """The pack at ``address`` is back on the line."""
        self.packs[address].online = True

    def set_cell_count(self, cells: int) -> None:
        """Every pack reports ``cells`` cells from its next reply on."""
        for pack in self.packs.values():
            pack.set_cell_count(cells)

    def source_settings(self, port: str) -> dict[str, object]:
        """The ``jk_pb`` config keys that read the first pack of this line on ``port``."""
        return {"port": port, "address": min(self.packs)}

    # -- the byte protocol --------------------------------------------------------------------

    def respond(self, data: bytes) -> list[Chunk]:
        """Feed bytes from the master; return what the addressed packs send back."""
        with self._lock:
            chunks: list[Chunk] = []
            for piece in self._rx.feed(data):
                if not isinstance(piece, Request) or piece.register not in FRAME_TYPES:
                    continue
                self.requests += 1
                pack = self.packs.get(piece.address)
                if pack is None or not pack.online:
                    continue
                self.answered[pack.address] += 1
                chunks += self._answer(pack, piece)
            return chunks

    def reply_to(self, address: int, frame_type: int) -> bytes:
        """What the pack at ``address`` sends for ``frame_type`` with no fault (record, 00, ACK, 00)."""
        pack = self.packs[address]
        return (
            self._record(pack, frame_type, nonsense=False)
            + b"\x00"
            + build_ack(address, REGISTERS[frame_type])
            + b"\x00"
        )

    def _answer(self, pack: SimulatedPack, request: Request) -> list[Chunk]:
        frame_type = FRAME_TYPES[request.register]
        fault = self._take_fault(pack.address)
        record = self._record(pack, frame_type, nonsense=fault == "nonsense")
        reply = record + b"\x00" + build_ack(pack.address, request.register) + b"\x00"
        delay = ANSWER_DELAY_S + self.delay_s[pack.address]
        if fault is None:
            chunks = [Chunk(0.0, reply)]
        else:
            chunks = render_fault(
                fault, request.raw, reply, self._rng, self.split_pause_s, self.trickle_byte_s
            )
        if chunks:
            chunks[0] = Chunk(chunks[0].delay_s + delay, chunks[0].data)
        return chunks

    def _record(self, pack: SimulatedPack, frame_type: int, *, nonsense: bool) -> bytes:
        if frame_type == CELL_INFO:
            info = pack.cell_info()
            return encode_cell_info(dataclasses.replace(info, soc_pct=255) if nonsense else info)
        if frame_type == SETTINGS:
            settings = pack.settings()
            return encode_settings(dataclasses.replace(settings, cell_count=0) if nonsense else settings)
        device = pack.device_info()
        return encode_device_info(dataclasses.replace(device, model="") if nonsense else device)

    def _take_fault(self, address: int) -> str | None:
        for faults in (self._pack_faults[address], self._faults):
            fault = next((name for name in FAULTS if name in faults), None)
            if fault is not None:
                count = faults[fault]
                if count is not None and count <= 1:
                    del faults[fault]
                elif count is not None:
                    faults[fault] = count - 1
                return fault
        return None

    @staticmethod
    def _check(fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault '{fault}'; known: {', '.join(FAULTS)}")


_REGISTRY: dict[str, SimulatedLine] = {}
_REGISTRY_LOCK = threading.Lock()


def get_line(name: str, **kwargs: object) -> SimulatedLine:
    """The simulated line shared under ``name``, created with ``kwargs`` on first use."""
    with _REGISTRY_LOCK:
        line = _REGISTRY.get(name)
        if line is None:
            line = _REGISTRY[name] = SimulatedLine(**kwargs)  # type: ignore[arg-type]
        return line


def forget_line(name: str | None = None) -> None:
    """Drop the shared line ``name`` (all of them with ``None``), e.g. between tests."""
    with _REGISTRY_LOCK:
        if name is None:
            _REGISTRY.clear()
        else:
            _REGISTRY.pop(name, None)


def make_simulator(cells: int = 16) -> SimulatedLine:
    """The registered simulator: a line with three 32S packs at addresses 1, 2 and 3."""
    return SimulatedLine((1, 2, 3), cells=cells)
