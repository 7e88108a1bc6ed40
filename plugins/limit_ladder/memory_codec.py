"""The policy memory as a small JSON document, and back, with the reboot rule (pure).

What survives a restart: the ladder values in force with their last cut (the 45-minute re-rise hold),
the temperature latches, the oscillation caps and the charge state. Times are monotonic seconds of
the injected clock, which on Linux count from boot, so the document also carries the boot id:

- same boot (the same boot id, and no time later than now): everything is restored as it was, and a
  hold continues where it stood;
- another boot, an unknown boot id, or times in the future: restored conservatively. A charge cut's
  re-rise hold and the oscillation interval restart from now (the limits stay as low as they were),
  and the charge state is not trusted: back to bulk, with the SOC cap, as on a fresh start.

A document of another format, version or pack, or with any field out of shape, is refused
(``ValueError``): the caller ignores it with one warning and starts from a fresh memory.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from . import oscillation as osc
from .charging import BULK, STATES, ChargeMemory
from .config import MAX_AMPS
from .ladder import Held
from .memory import LadderMemory

FORMAT = "battery-gateway limit_ladder memory"
VERSION = 1


def _held(held: Held | None) -> dict[str, Any] | None:
    return None if held is None else {"amps": held.amps, "reason": held.reason, "cut_at_s": held.cut_at_s}


def persisted(memory: LadderMemory) -> dict[str, Any]:
    """The parts of ``memory`` that survive a restart, as JSON values."""
    caps = memory.counteraction
    state = memory.charge_state
    return {
        "charge": _held(memory.charge),
        "discharge": _held(memory.discharge),
        "charge_temp_blocked": memory.charge_temp_blocked,
        "discharge_temp_blocked": memory.discharge_temp_blocked,
        "counteraction": {
            "charge_cap_a": caps.charge_cap_a,
            "discharge_cap_a": caps.discharge_cap_a,
            "reduced_at_s": caps.reduced_at_s,
            "changed_at_s": caps.changed_at_s,
            "cause": caps.cause,
        },
        "charge_state": {"state": state.state, "since_s": state.since_s, "full_since_s": state.full_since_s},
    }


def change_key(memory: LadderMemory) -> str:
    """What a save depends on: the persisted parts without the reason texts (they change every cycle)."""
    data = persisted(memory)
    for name in ("charge", "discharge"):
        if data[name] is not None:
            data[name] = {k: v for k, v in data[name].items() if k != "reason"}
    return repr(data)


def encode(memory: LadderMemory, *, pack: str, boot_id: str | None, saved_at_s: float) -> dict[str, Any]:
    """The whole document written to the state file."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "pack": pack,
        "boot_id": boot_id,
        "saved_at_s": saved_at_s,
        **persisted(memory),
    }


class _Reader:
    """Typed access to one JSON object; every miss is a ``ValueError`` naming the field."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not an object")
        self.data, self.where = data, where

    def number(self, key: str, low: float, high: float, *, optional: bool = False) -> float | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.where}.{key} is not a number")
        value = float(value)  # an int too large for a float raises OverflowError, caught by the caller
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"{self.where}.{key} = {value:g} is out of range")
        return value

    def time(self, key: str, *, optional: bool = True) -> float | None:
        return self.number(key, -1e12, 1e12, optional=optional)

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise ValueError(f"{self.where}.{key} is not true or false")
        return value

    def text(self, key: str, limit: int = 500, *, optional: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"{self.where}.{key} is not a short string")
        return value


def _read_held(data: object, where: str) -> Held | None:
    if data is None:
        return None
    r = _Reader(data, where)
    amps = r.number("amps", 0.0, MAX_AMPS)
    assert amps is not None
    return Held(amps, r.text("reason") or "", r.time("cut_at_s"))


def _decode(data: object, pack: str) -> tuple[LadderMemory, float, str | None, list[float]]:
    top = _Reader(data, "file")
    if top.data.get("format") != FORMAT or top.data.get("version") != VERSION:
        raise ValueError(f"not a limit_ladder memory file (format {FORMAT!r}, version {VERSION})")
    if top.data.get("pack") != pack:
        raise ValueError(f"it belongs to pack {top.data.get('pack')!r}, not {pack!r}")
    saved_at = top.time("saved_at_s", optional=False)
    assert saved_at is not None
    caps = _Reader(top.data.get("counteraction"), "counteraction")
    cstate = _Reader(top.data.get("charge_state"), "charge_state")
    state = cstate.text("state")
    if state not in STATES:
        raise ValueError(f"charge_state.state = {state!r} is not one of {', '.join(STATES)}")
    counteraction = osc.Counteraction(
        caps.number("charge_cap_a", 0.0, MAX_AMPS, optional=True),
        caps.number("discharge_cap_a", 0.0, MAX_AMPS, optional=True),
        caps.time("reduced_at_s"),
        caps.time("changed_at_s"),
        caps.text("cause", optional=True) or "",
    )
    memory = LadderMemory(
        charge=_read_held(top.data.get("charge"), "charge"),
        discharge=_read_held(top.data.get("discharge"), "discharge"),
        charge_temp_blocked=top.flag("charge_temp_blocked"),
        discharge_temp_blocked=top.flag("discharge_temp_blocked"),
        counteraction=counteraction,
        charge_state=ChargeMemory(state, cstate.time("since_s"), cstate.time("full_since_s")),
    )
    held_times = [h.cut_at_s for h in (memory.charge, memory.discharge) if h is not None]
    times = [
        *held_times,
        counteraction.reduced_at_s,
        counteraction.changed_at_s,
        memory.charge_state.since_s,
        memory.charge_state.full_since_s,
    ]
    boot = top.text("boot_id", 100, optional=True)
    return memory, saved_at, boot, [t for t in times if t is not None]


def _restart_holds(memory: LadderMemory, now_s: float) -> LadderMemory:
    """After a reboot: holds restart from now, the charge state from bulk."""

    def again(held: Held | None) -> Held | None:
        if held is None or held.cut_at_s is None:
            return held
        return replace(held, cut_at_s=now_s)

    caps = memory.counteraction
    return replace(
        memory,
        charge=again(memory.charge),
        discharge=again(memory.discharge),
        counteraction=replace(
            caps,
            reduced_at_s=None if caps.reduced_at_s is None else now_s,
            changed_at_s=None if caps.changed_at_s is None else now_s,
        ),
        charge_state=ChargeMemory(BULK, now_s, None),
    )


def decode(data: object, *, pack: str, boot_id: str | None, now_s: float) -> tuple[LadderMemory, str]:
    """The memory in a state file's document, and how it was restored (for the log).

    :raises ValueError: a foreign or corrupt document (never partly trusted).
    """
    try:
        memory, saved_at, saved_boot, times = _decode(data, pack)
    except OverflowError:
        raise ValueError("a number is too large") from None
    if boot_id is None or saved_boot is None:
        why = "the boot id is unknown"
    elif saved_boot != boot_id:
        why = "saved before a reboot"
    elif saved_at > now_s or max(times, default=saved_at) > saved_at:
        why = "its times lie in the future"
    else:
        return memory, f"same boot, saved {now_s - saved_at:.0f} s ago: holds continue"
    return _restart_holds(memory, now_s), f"{why}: holds restart now, charge state back to bulk"
