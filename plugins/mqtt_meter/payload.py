"""Read the grid power out of an MQTT payload: a plain number, or a number at a key path in JSON. Pure.

What Shelly, Tasmota and Home Assistant publish: ``"1234.5"`` (Shelly Gen1 ``.../emeter/0/power``,
a Home Assistant state), ``{"ENERGY": {"Power": 1234}}`` (Tasmota ``tele/.../SENSOR``, path
``ENERGY.Power``), ``{"total_act_power": 1234.5}`` (Shelly Pro 3EM ``status/em:0``). Everything else
is refused with a :class:`PayloadError` naming a ``reason`` of :data:`REASONS`: too long, not UTF-8,
not a finite number (``unavailable``, ``NaN``, ``1e999``, a 400-digit integer, ``true``), a missing
key, or a power beyond :data:`MAX_POWER_W`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Largest grid power believed (1 MW; a house connection is some 10-50 kW).
MAX_POWER_W = 1_000_000.0
#: A plain decimal number, as meters write them (no hex, no underscores, no "inf"/"nan").
NUMBER = re.compile(r"[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,4})?")
REASONS = ("too_large", "encoding", "empty", "json", "path", "not_a_number", "implausible")


class PayloadError(ValueError):
    """A payload that holds no usable grid power; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number(value: object) -> float:
    """A JSON value or text as a finite float. :raises PayloadError: ``not_a_number``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError("not_a_number", f"{_shown(value)} is not a number")
    if isinstance(value, str):
        text = value.strip()
        if not NUMBER.fullmatch(text):
            raise PayloadError("not_a_number", f"{_shown(text)} is not a number")
        value = text
    try:
        result = float(value)
    except (OverflowError, ValueError):
        raise PayloadError("not_a_number", f"{_shown(value)} is out of range") from None
    if not math.isfinite(result):
        raise PayloadError("not_a_number", f"{_shown(value)} is not a finite number")
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def at_path(document: object, path: tuple[str, ...]) -> object:
    """The value at ``path`` (dict keys; list indexes as digits). :raises PayloadError: ``path``."""
    current = document
    for depth, key in enumerate(path):
        where = ".".join(path[:depth]) or "the top level"
        if isinstance(current, dict):
            if key not in current:
                raise PayloadError("path", f"no key {key!r} at {where}")
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            raise PayloadError("path", f"{key!r} not found at {where} (a {type(current).__name__})")
    return current


def parse_power(payload: bytes, path: tuple[str, ...], *, max_bytes: int) -> float:
    """The number in ``payload`` (at ``path`` in JSON, or the whole payload when ``path`` is empty)."""
    if len(payload) > max_bytes:
        raise PayloadError(
            "too_large", f"payload of {len(payload)} bytes exceeds max_payload_bytes = {max_bytes}"
        )
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise PayloadError(
            "encoding", f"payload is not UTF-8 (byte 0x{payload[exc.start]:02X} at {exc.start})"
        ) from None
    if not text:
        raise PayloadError("empty", "empty payload")
    if not path:
        if text.startswith(("{", "[")):
            raise PayloadError(
                "not_a_number", "payload is JSON: set json_path to the key that holds the power"
            )
        return number(text)
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PayloadError("json", f"not valid JSON: {first[:80]}") from None
    return number(at_path(document, path))


def grid_power(payload: bytes, path: tuple[str, ...], *, max_bytes: int, scale: float, invert: bool) -> float:
    """The grid power in W (+ = import) after ``scale`` and ``invert``. :raises PayloadError:."""
    value = parse_power(payload, path, max_bytes=max_bytes) * scale
    if invert:
        value = -value
    if abs(value) > MAX_POWER_W:
        raise PayloadError("implausible", f"{value:g} W is beyond {MAX_POWER_W:g} W")
    return round(value, 3) + 0.0
