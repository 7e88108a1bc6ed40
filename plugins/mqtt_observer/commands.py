"""The temporary charge limit override: parse the MQTT command, hold it, apply it (pure, but the box).

An override can only *lower* the charge current the policy decided, never raise it, so it is bounded
by the policy's caps and the fail-safe by construction; it expires by itself on the gateway's clock.

Command payloads on ``<base>/command/charge_limit`` (retained messages are ignored, so a stale
retained command cannot come back after a reconnect):

- ``20`` -- limit charging to 20 A for ``override_default_duration_s``;
- ``{"charge_current_a": 20, "duration_s": 600}`` -- the same with an explicit duration;
- empty, ``clear``, ``off`` or ``none`` -- end the override now.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, replace

from gateway_core.model import LimitFlag, Limits

#: The largest current an override may name; anything above any real pack is a typo.
MAX_OVERRIDE_A = 10000.0

#: The largest payload accepted on any topic the observer subscribes to (commands, the Home
#: Assistant status); a command is a few dozen bytes. With MQTT 5 the broker drops larger messages
#: before they reach the gateway; with 3.1.1 they are refused on arrival.
MAX_PAYLOAD_BYTES = 1024

_CLEAR_WORDS = {"", "clear", "off", "none", "null"}
_CHARGE_FLAGS = LimitFlag.CHARGE | LimitFlag.FORCE_CHARGE | LimitFlag.FULL_CHARGE


class CommandError(ValueError):
    """A command payload that was refused; the message is one line saying why."""


@dataclass(frozen=True, slots=True)
class Override:
    """Charge at most ``charge_current_a`` until ``expires_at_s`` (monotonic, the gateway's clock)."""

    charge_current_a: float
    expires_at_s: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.charge_current_a) or not 0 <= self.charge_current_a <= MAX_OVERRIDE_A:
            raise ValueError(f"override charge current {self.charge_current_a!r} is out of range")
        if not math.isfinite(self.expires_at_s):
            raise ValueError("override expiry must be a finite time")

    def active(self, now_s: float) -> bool:
        """True until the override expires."""
        return now_s < self.expires_at_s


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(f"{what} must be a number, not {_shorten(json.dumps(value))}")
    if isinstance(value, int) and abs(value) > 10**15:  # float() of a 400-digit int overflows
        raise CommandError(f"{what} = {_shorten(str(value))} is out of range")
    number = float(value)
    if not math.isfinite(number):
        raise CommandError(f"{what} must be a finite number")
    return number


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} characters)"


def parse_override_command(
    payload: bytes, *, now_s: float, default_duration_s: float, max_duration_s: float
) -> Override | None:
    """Turn a command payload into an :class:`Override` (``None`` clears the current one).

    :raises CommandError: longer than :data:`MAX_PAYLOAD_BYTES`, not UTF-8, not a number or JSON
        object, unknown keys, a negative or absurd current (a 400-digit integer included), or a
        duration outside 1 s to ``max_duration_s``.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(f"command is {len(payload)} bytes long; at most {MAX_PAYLOAD_BYTES} accepted")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandError("command is not UTF-8 text") from None
    if text.lower() in _CLEAR_WORDS:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise CommandError(f"command {_shorten(repr(text))} is neither a number nor a JSON object") from None
    duration: object = default_duration_s
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"charge_current_a", "duration_s"})
        if unknown:
            names = _shorten(", ".join(repr(key) for key in unknown))
            raise CommandError(f"unknown key(s) {names}; accepted: charge_current_a, duration_s")
        if "charge_current_a" not in data:
            raise CommandError("charge_current_a is missing")
        current = _number(data["charge_current_a"], "charge_current_a")
        duration = data.get("duration_s", default_duration_s)
    else:
        current = _number(data, "charge_current_a")
    seconds = _number(duration, "duration_s")
    if not 0 <= current <= MAX_OVERRIDE_A:
        raise CommandError(
            f"charge_current_a = {current:g} is out of range; accepted: 0 to {MAX_OVERRIDE_A:g} A"
        )
    if not 1.0 <= seconds <= max_duration_s:
        raise CommandError(f"duration_s = {seconds:g} is out of range; accepted: 1 to {max_duration_s:g} s")
    return Override(current, now_s + seconds)


def apply_override(limits: Limits, override: Override | None, now_s: float) -> Limits:
    """Lower ``limits``' charge current to the override's, if it is active and lower.

    Only the charge current can change, and only downwards: discharge, voltages and fault are kept.
    At 0 A the charge requests (CHARGE, FORCE_CHARGE, FULL_CHARGE) are cleared, since a charge flag
    with a 0 A limit is invalid. A reason is appended when the override lowered the limit.
    """
    if override is None or not override.active(now_s):
        return limits
    if override.charge_current_a >= limits.charge_current_a:
        return limits
    flags = limits.flags & ~_CHARGE_FLAGS if override.charge_current_a <= 0 else limits.flags
    reason = (
        f"charge {override.charge_current_a:g} A: MQTT override "
        f"(policy allowed {limits.charge_current_a:g} A)"
    )
    return replace(
        limits,
        charge_current_a=override.charge_current_a,
        flags=flags,
        reasons=(*limits.reasons, reason),
    )


class OverrideBox:
    """The current override, shared between the MQTT thread (sets it) and the cycle (reads it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._override: Override | None = None

    def set(self, override: Override | None) -> None:
        """Replace the override (``None`` clears it)."""
        with self._lock:
            self._override = override

    def get(self, now_s: float) -> Override | None:
        """The override if still active at ``now_s``; an expired one is dropped."""
        with self._lock:
            if self._override is not None and not self._override.active(now_s):
                self._override = None
            return self._override
