"""Several simulated Daly units on one RS485 line: every request reaches all, the addressed one answers.

:class:`SimulatedLine` is itself a :class:`gateway_core.simkit.SimulatedDevice`, so one pty (or one
``dalysim://?boards=1,2`` URL) carries a whole line of units with their own board numbers, as the
shared-port tests need.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway_core.simkit import Chunk

from .simulator import SimulatedDaly


class SimulatedLine:
    """Units with distinct board numbers sharing one line; faults and unplugging apply to the line."""

    def __init__(self, units: Iterable[SimulatedDaly]) -> None:
        self.units = list(units)
        boards = [unit.board for unit in self.units]
        if not boards or len(set(boards)) != len(boards):
            raise ValueError(f"a line needs units with distinct board numbers, got {boards}")
        self.unplugged = False
        self.requests = 0  # requests understood by any unit (a request is addressed to exactly one)

    def unit(self, board: int) -> SimulatedDaly:
        """The unit at ``board``."""
        return next(unit for unit in self.units if unit.board == board)

    def respond(self, data: bytes) -> list[Chunk]:
        """Hand the bytes to every unit; the addressed one answers."""
        chunks: list[Chunk] = []
        for unit in self.units:
            chunks += unit.respond(data)
        self.requests = sum(unit.requests for unit in self.units)
        return chunks

    def step(self, dt_s: float) -> None:
        """Let time pass for every unit."""
        for unit in self.units:
            unit.step(dt_s)

    def inject(self, fault: str, count: int | None = None) -> None:
        """Make every unit misbehave with ``fault``."""
        for unit in self.units:
            unit.inject(fault, count)

    def clear_faults(self) -> None:
        """Every unit answers normally again."""
        for unit in self.units:
            unit.clear_faults()

    def unplug(self) -> None:
        """The line's adapter is pulled."""
        self.unplugged = True

    def plug(self) -> None:
        """The line's adapter is back."""
        self.unplugged = False

    def set_cell_count(self, cells: int) -> None:
        """Every unit reports ``cells`` cells from the next reply on."""
        for unit in self.units:
            unit.set_cell_count(cells)

    def source_settings(self, port: str) -> dict[str, object]:
        """The config keys that read the first unit on ``port``."""
        return self.units[0].source_settings(port)
