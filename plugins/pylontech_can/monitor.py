"""A live view of a Pylontech CAN bus: the latest frame of each id, its age and what it means.

:func:`render_view` is pure (the demo reuses it to show "what the inverter sees");
:func:`run_monitor` is the thin loop that feeds it from a python-can bus.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .dbc import BATTERY_FRAME_IDS, HEARTBEAT_ID
from .decode import FrameDecodeError, decode_frame, frame_name

#: A frame older than this is marked stale (the battery sends its set every second).
STALE_AFTER_S = 3.0

#: 0x35C flags, most important first.
REQUEST_ORDER = ("charge_enable", "discharge_enable", "force_charge_1", "force_charge_2", "full_charge")

#: Latest data and receive time (clock seconds) per arbitration id.
FrameTable = Mapping[int, tuple[bytes, float]]


def summarize(arbitration_id: int, data: bytes) -> str:
    """One short human line for a frame's decoded values (flags: only those set)."""
    try:
        values = decode_frame(arbitration_id, data)
    except FrameDecodeError:
        return "(not decoded)"
    if arbitration_id == 0x351:
        parts = [
            _fmt(values, "charge_voltage_limit_v", "CVL", "V", 1),
            _fmt(values, "charge_current_limit_a", "CCL", "A", 1),
            _fmt(values, "discharge_current_limit_a", "DCL", "A", 1),
            _fmt(values, "discharge_voltage_limit_v", "DVL", "V", 1),
        ]
        return "  ".join(p for p in parts if p)
    if arbitration_id == 0x355:
        return f"SOC {values['soc_pct']} %  SOH {values.get('soh_pct', '?')} %"
    if arbitration_id == 0x356:
        parts = [
            _fmt(values, "voltage_v", "", "V", 2),
            _fmt(values, "current_a", "", "A", 1),
            _fmt(values, "temperature_c", "", "°C", 1),
        ]
        return "  ".join(p.strip() for p in parts if p)
    if arbitration_id == 0x359:
        flags = [name for name, value in values.items() if value is True]
        head = f"modules {values.get('module_count', '?')}  {values.get('pn', '')!s}".rstrip()
        return head + ("  " + ", ".join(flags) if flags else "  no protection or alarm")
    if arbitration_id == 0x35C:
        flags = [name for name in REQUEST_ORDER if values.get(name) is True]
        return ", ".join(flags) if flags else "nothing requested (charge and discharge disabled)"
    if arbitration_id == 0x35E:
        return repr(values.get("manufacturer", ""))
    if arbitration_id == HEARTBEAT_ID:
        return "inverter heartbeat"
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _fmt(values: Mapping[str, Any], key: str, label: str, unit: str, decimals: int) -> str:
    if key not in values:
        return ""
    return f"{label} {values[key]:.{decimals}f} {unit}".strip()


def render_view(frames: FrameTable, now_s: float, *, title: str = "") -> list[str]:
    """Display lines: a header, then the battery frames in send order, then any other id.

    Battery frames never seen are listed as ``not seen``; a frame older than
    :data:`STALE_AFTER_S` is marked ``STALE``.
    """
    lines = [title] if title else []
    lines.append(f"{'ID':<6} {'NAME':<24} {'DATA':<23} {'AGE':>8}  DECODED")
    ids = [*BATTERY_FRAME_IDS, HEARTBEAT_ID]
    ids += sorted(set(frames) - set(ids))
    for arbitration_id in ids:
        name = frame_name(arbitration_id) or "?"
        if arbitration_id not in frames:
            if arbitration_id in BATTERY_FRAME_IDS:
                lines.append(f"0x{arbitration_id:03X}  {name:<24} {'':<23} {'-':>8}  not seen")
            continue
        data, seen_at = frames[arbitration_id]
        age = max(0.0, now_s - seen_at)
        stale = "  STALE" if age > STALE_AFTER_S else ""
        hex_data = data.hex(" ").upper()
        lines.append(
            f"0x{arbitration_id:03X}  {name:<24} {hex_data:<23} {age:>6.1f} s  "
            f"{summarize(arbitration_id, data)}{stale}"
        )
    if HEARTBEAT_ID not in frames:
        lines.append("no 0x305 heartbeat seen (some inverters never send it)")
    return lines


class _Receiver(Protocol):
    def recv(self, timeout: float | None = None) -> Any: ...


class _Clock(Protocol):
    def now(self) -> float: ...


def run_monitor(
    bus: _Receiver,
    clock: _Clock,
    show: Callable[[list[str]], None],
    *,
    refresh_s: float = 0.5,
    duration_s: float | None = None,
    title: str = "",
) -> dict[int, tuple[bytes, float]]:
    """Receive frames and call ``show(lines)`` every ``refresh_s`` until ``duration_s`` has passed.

    Runs until interrupted when ``duration_s`` is None; returns the latest frame table.
    """
    frames: dict[int, tuple[bytes, float]] = {}
    start = clock.now()
    next_show = start
    while True:
        now = clock.now()
        if now >= next_show:
            show(render_view(frames, now, title=title))
            next_show = now + refresh_s
        if duration_s is not None and now - start >= duration_s:
            show(render_view(frames, now, title=title))
            return frames
        message = bus.recv(min(refresh_s, 0.1))
        if message is None or message.is_error_frame or message.is_remote_frame:
            continue
        frames[message.arbitration_id] = (bytes(message.data), clock.now())
