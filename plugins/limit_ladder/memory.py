"""What the policy remembers between cycles: a frozen value that the pure ``decide`` returns anew."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import oscillation as osc
from .charging import ChargeMemory
from .ladder import Held


@dataclass(frozen=True, slots=True)
class LadderMemory:
    """The policy's memory; times are on the injected monotonic clock (``GatewayState.now_s``).

    ``charge``/``discharge`` are the ladder values in force (with their last cut), the temperature
    latches, the oscillation window, reducer and pending detection, the charge state, and what the
    last decision returned (for the ramp). ``events`` are this decision's log lines.
    """

    charge: Held | None = None
    discharge: Held | None = None
    charge_temp_blocked: bool = False
    discharge_temp_blocked: bool = False
    samples: tuple[tuple[float, float], ...] = ()
    counteraction: osc.Counteraction = field(default_factory=osc.Counteraction)
    pending: osc.Swing | None = None
    charge_state: ChargeMemory = field(default_factory=ChargeMemory)
    last_now_s: float | None = None
    last_output: tuple[float, float] | None = None
    events: tuple[str, ...] = ()
