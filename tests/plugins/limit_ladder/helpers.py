"""Readings and states for the limit_ladder tests (time is injected: ``t`` is ``state.now_s``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway_core.model import BatteryReading, GatewayState, Limits
from limit_ladder.config import LadderConfig
from limit_ladder.policy import LadderMemory, decide


def pack(
    high: float = 3.30,
    low: float | None = None,
    *,
    n: int = 16,
    t: float = 0.0,
    soc: float = 50.0,
    current: float = 0.0,
    temps: tuple[float, ...] = (20.0, 21.0),
    **changes: Any,
) -> BatteryReading:
    """A pack whose highest cell is ``high`` and lowest ``low`` (default: min(high, 3.30))."""
    low = min(high, 3.30) if low is None else low
    mid = (high + low) / 2
    cells = (low, *([mid] * (n - 2)), high)
    return BatteryReading(
        source_id="test",
        taken_at_s=t,
        voltage_v=round(sum(cells), 3),
        current_a=current,
        soc_pct=soc,
        cell_voltages_v=cells,
        temperatures_c=temps,
        **changes,
    )


def once(reading: BatteryReading, config: LadderConfig | None = None) -> Limits:
    """The limits for a single reading with no history."""
    limits, _ = decide(reading, LadderMemory(), GatewayState(reading.taken_at_s, 1), config or LadderConfig())
    return limits


class Runner:
    """Feeds readings to the pure ``decide`` like the engine does: previous = what was returned."""

    def __init__(self, config: LadderConfig | None = None) -> None:
        self.config = config or LadderConfig()
        self.memory = LadderMemory()
        self.previous: Limits | None = None
        self.cycle = 0

    def at(self, t: float, reading: BatteryReading | None = None, **kw: Any) -> Limits:
        """Decide at time ``t`` for ``reading`` (or ``pack(t=t, **kw)``)."""
        self.cycle += 1
        if reading is None:
            reading = pack(t=t, **kw)
        limits, self.memory = decide(
            reading, self.memory, GatewayState(t, self.cycle, self.previous), self.config
        )
        self.previous = limits
        return limits

    def trace(self, points: Iterable[tuple[float, dict[str, Any]]]) -> list[Limits]:
        """Decide each ``(t, pack kwargs)`` in order."""
        return [self.at(t, **kw) for t, kw in points]


def has(limits: Limits, fragment: str) -> bool:
    """True when some reason contains ``fragment``."""
    return any(fragment in reason for reason in limits.reasons)
