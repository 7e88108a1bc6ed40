"""A live view of a Pylontech CAN bus: the latest frame of each id, its age and what it means.

:func:`render_view` is pure (the demo reuses it to show "what the inverter sees");
:func:`run_monitor` is the thin loop that feeds it from a python-can bus. A corrupt frame from the
adapter is skipped and counted, never the end of the monitor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .dbc import BATTERY_FRAME_IDS, HEARTBEAT_ID
from .decode import FrameDecodeError, decode_frame, frame_name

#: A frame older than this is marked stale (the battery sends its set every second).
STALE_AFTER_S = 3.0

#: 0x35C flags, most important first.
REQUEST_ORDER = ("charge_enable", "discharge_enable", "force_charge_1", "force_charge_2", "full_charge")
#: What one recv may raise on a corrupt frame (python-can's slcan parser, other adapters).
CORRUPT_FRAME = (ValueError, IndexError, UnicodeDecodeError)

#: Latest data and receive time (clock seconds) per arbitration id.
FrameTable = Mapping[int, tuple[bytes, float]]


def summarize(arbitration_id: int, data: bytes, variant: str | None = None) -> str:
    """One short human line for a frame's decoded values (flags: only those set)."""
    try:
        values = decode_frame(arbitration_id, data, variant)
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
        head = f"SOC {values['soc_pct']} %  SOH {values.get('soh_pct', '?')} %"
        return "  ".join([head, *_rest(values, ("soc_pct", "soh_pct"))])
    if arbitration_id == 0x356:
        parts = [
            _fmt(values, "voltage_v", "", "V", 2),
            _fmt(values, "current_a", "", "A", 1),
            _fmt(values, "temperature_c", "", "°C", 1),
        ]
        head = "  ".join(p.strip() for p in parts if p)
        return "  ".join([head, *_rest(values, ("voltage_v", "current_a", "temperature_c"))])
    if arbitration_id == 0x359:
        flags = [name for name, value in values.items() if value is True]
        head = (
            f"modules {values.get('module_count', '?')}  {values.get('pn', values.get('capacity_ah', ''))!s}"
        )
        return head.rstrip() + ("  " + ", ".join(flags) if flags else "  no protection or alarm")
    if arbitration_id == 0x35C:
        flags = [name for name in REQUEST_ORDER if values.get(name) is True]
        return ", ".join(flags) if flags else "nothing requested (charge and discharge disabled)"
    if arbitration_id == 0x35A:
        raised = [name for name, state in values.items() if state == "raised"]
        return ("raised: " + ", ".join(raised)) if raised else "no alarm or warning raised"
    if arbitration_id == 0x35E or 0x374 <= arbitration_id <= 0x377:
        return repr(next(iter(values.values()), ""))
    if arbitration_id == HEARTBEAT_ID:
        return "inverter heartbeat"
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _fmt(values: Mapping[str, Any], key: str, label: str, unit: str, decimals: int) -> str:
    if key not in values:
        return ""
    return f"{label} {values[key]:.{decimals}f} {unit}".strip()


def _rest(values: Mapping[str, Any], shown: Sequence[str]) -> list[str]:
    return [f"{k}={v}" for k, v in values.items() if k not in shown]


def render_view(
    frames: FrameTable,
    now_s: float,
    *,
    title: str = "",
    expected: Sequence[int] = BATTERY_FRAME_IDS,
    variants: Mapping[int, str | None] | None = None,
    notes: Sequence[str] = (),
) -> list[str]:
    """Display lines: a header, then the ``expected`` frames in send order, then any other id.

    Expected frames never seen are listed as ``not seen``; a frame older than
    :data:`STALE_AFTER_S` is marked ``STALE``. ``notes`` go at the end.
    """
    lines = [title] if title else []
    lines.append(f"{'ID':<6} {'NAME':<24} {'DATA':<23} {'AGE':>8}  DECODED")
    ids = [*expected, HEARTBEAT_ID]
    ids += sorted(set(frames) - set(ids))
    for arbitration_id in ids:
        variant = (variants or {}).get(arbitration_id)
        name = frame_name(arbitration_id, variant) or "?"
        if arbitration_id not in frames:
            if arbitration_id in expected:
                lines.append(f"0x{arbitration_id:03X}  {name:<24} {'':<23} {'-':>8}  not seen")
            continue
        data, seen_at = frames[arbitration_id]
        age = max(0.0, now_s - seen_at)
        stale = "  STALE" if age > STALE_AFTER_S else ""
        hex_data = data.hex(" ").upper()
        lines.append(
            f"0x{arbitration_id:03X}  {name:<24} {hex_data:<23} {age:>6.1f} s  "
            f"{summarize(arbitration_id, data, variant)}{stale}"
        )
    if HEARTBEAT_ID not in frames:
        lines.append("no 0x305 heartbeat seen (some inverters never send it)")
    lines.extend(notes)
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
    expected: Sequence[int] = BATTERY_FRAME_IDS,
    variants: Mapping[int, str | None] | None = None,
) -> dict[int, tuple[bytes, float]]:
    """Receive frames and call ``show(lines)`` every ``refresh_s`` until ``duration_s`` has passed.

    Runs until interrupted when ``duration_s`` is None; returns the latest frame table. 29-bit,
    remote and error frames are not shown; a corrupt frame is counted in a note.
    """
    frames: dict[int, tuple[bytes, float]] = {}
    raised = [0]  # corrupt frames that reached us as exceptions (a guarded bus counts its own)
    start = clock.now()
    next_show = start

    def view(now: float) -> list[str]:
        corrupt = raised[0] + int(getattr(bus, "corrupt", 0))
        notes = [f"skipped {corrupt} corrupt frame(s) from the adapter"] if corrupt else []
        return render_view(frames, now, title=title, expected=expected, variants=variants, notes=notes)

    while True:
        now = clock.now()
        if now >= next_show:
            show(view(now))
            next_show = now + refresh_s
        if duration_s is not None and now - start >= duration_s:
            show(view(now))
            return frames
        try:
            message = bus.recv(min(refresh_s, 0.1))
        except CORRUPT_FRAME:
            raised[0] += 1
            continue
        if message is None or message.is_error_frame or message.is_remote_frame or message.is_extended_id:
            continue
        frames[message.arbitration_id] = (bytes(message.data), clock.now())
