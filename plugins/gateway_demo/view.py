"""Pure parts of ``gateway demo``: the pretend inverter and the text view (no bus, no clock, no port).

The inverter obeys what the gateway put on the bus: it charges or discharges at most the limits of
0x351, only what 0x35C enables, and stands by when the frames stop. The view shows the BMS as the
gateway read it, the limits with their reasons, and the frames as the inverter decoded them.
Plugin modules (``pylontech_can``) are imported inside the functions that use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway_core.model import BatteryReading, CycleResult

#: Latest data and receive time (clock seconds) per arbitration id.
Frames = Mapping[int, tuple[bytes, float]]
LIMITS_ID, SOC_ID, REQUESTS_ID = 0x351, 0x355, 0x35C
#: ANSI: cursor home, clear the screen.
CLEAR = "\x1b[H\x1b[2J"


def decoded(frames: Frames, arbitration_id: int) -> dict[str, Any]:
    """The decoded values of the latest ``arbitration_id`` frame; empty when none or undecodable."""
    from pylontech_can.decode import FrameDecodeError, decode_frame

    if arbitration_id not in frames:
        return {}
    try:
        return decode_frame(arbitration_id, frames[arbitration_id][0])
    except FrameDecodeError:
        return {}


@dataclass
class PretendInverter:
    """A hybrid inverter that charges until the battery is full, then discharges until it is low.

    It trusts only the bus: charge current ``min(charge_a, CCL)`` while 0x35C enables charging,
    discharge ``min(discharge_a, DCL)`` while it enables discharging, and 0 A once 0x351 is older
    than ``timeout_s`` (the battery went quiet).
    """

    charge_a: float = 50.0
    discharge_a: float = 40.0
    full_soc_pct: float = 99.0
    low_soc_pct: float = 15.0
    timeout_s: float = 3.0
    charging: bool = True
    amps: float = 0.0
    note: str = field(default="waiting for the battery's frames")

    def update(self, frames: Frames, now_s: float) -> float:
        """Decide the battery current (+ = charging) from the latest frames; returns it."""
        limits, soc, requests = (
            decoded(frames, LIMITS_ID),
            decoded(frames, SOC_ID),
            decoded(frames, REQUESTS_ID),
        )
        if not limits or now_s - frames[LIMITS_ID][1] > self.timeout_s:
            self.amps = 0.0
            self.note = "no limits yet: stands by at 0 A"
            return self.amps
        ccl = float(limits.get("charge_current_limit_a", 0.0))
        dcl = float(limits.get("discharge_current_limit_a", 0.0))
        may_charge = ccl > 0 and bool(requests.get("charge_enable", False))
        may_discharge = dcl > 0 and bool(requests.get("discharge_enable", False))
        soc_pct = float(soc.get("soc_pct", 50))
        if self.charging and (soc_pct >= self.full_soc_pct or (not may_charge and may_discharge)):
            self.charging = False
        elif not self.charging and (soc_pct <= self.low_soc_pct or (not may_discharge and may_charge)):
            self.charging = True
        if self.charging:
            self.amps = min(self.charge_a, ccl) if may_charge else 0.0
            self.note = f"charges {self.amps:.1f} A (wants {self.charge_a:g})"
            if not may_charge:
                self.note = "may not charge: 0 A"
        else:
            self.amps = -min(self.discharge_a, dcl) if may_discharge else 0.0
            self.note = f"discharges {-self.amps:.1f} A (wants {self.discharge_a:g})"
            if not may_discharge:
                self.note = "may not discharge: 0 A"
        return self.amps


def bms_lines(reading: BatteryReading | None, now_s: float) -> list[str]:
    """The reading the limits rest on, with its age, as the gateway decoded it (3 lines)."""
    if reading is None:
        return ["  no valid reading backs this cycle", "", ""]
    cells = reading.cell_voltages_v
    low, high = cells.index(min(cells)) + 1, cells.index(max(cells)) + 1
    temps = "/".join(f"{t:g}" for t in reading.temperatures_c) or "-"
    mosfet = f", MOSFET {reading.bms_temperature_c:g}" if reading.bms_temperature_c is not None else ""
    packs = f"  {reading.pack_count} packs" if reading.pack_count > 1 else ""
    age = max(0.0, now_s - reading.taken_at_s)
    return [
        f"  {reading.voltage_v:.2f} V  {reading.current_a:+.1f} A  {reading.power_w:+.0f} W"
        f"  SOC {reading.soc_pct:g} %{packs}  (reading {age:.1f} s old)",
        f"  {reading.cell_count} cells  min {reading.min_cell_v:.3f} V #{low}"
        f"  max {reading.max_cell_v:.3f} V #{high}  delta {reading.cell_delta_v * 1000:.0f} mV",
        f"  {temps} °C{mosfet} °C  MOSFETs charge {_on(reading.charge_enabled)},"
        f" discharge {_on(reading.discharge_enabled)}",
    ]


def _on(flag: bool) -> str:
    return "on" if flag else "off"


MAX_REASONS = 4


def limit_lines(result: CycleResult) -> list[str]:
    """The limits the gateway decided, with their reasons (at most a few); the fail-safe stands out."""
    limits = result.limits
    if limits.fault is not None:
        head = f"LIMITS  *** FAIL-SAFE ({limits.fault.value}): 0 A both ways, nothing enabled ***"
    else:
        head = f"LIMITS  {limits.summary()}"
    reasons = list(limits.reasons)
    shown = [f"  - {reason}" for reason in reasons[:MAX_REASONS]]
    if len(reasons) > MAX_REASONS:
        shown[-1] = f"  - ... and {len(reasons) - MAX_REASONS + 1} more reasons"
    lines = [head, *shown]
    if not result.published:
        lines.append("  ! the sink could not publish this cycle")
    return lines


def frame_lines(frames: Frames, now_s: float) -> list[str]:
    """What the inverter sees, one short decoded line per frame id (fits 80 columns)."""
    from pylontech_can.monitor import summarize

    order = [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E, 0x305]
    lines = []
    for arbitration_id in [*order, *sorted(set(frames) - set(order))]:
        if arbitration_id not in frames:
            lines.append(f"  0x{arbitration_id:03X}  not seen")
            continue
        data, at = frames[arbitration_id]
        lines.append(
            f"  0x{arbitration_id:03X} {max(0.0, now_s - at):4.1f}s  {summarize(arbitration_id, data)}"
        )
    return lines


def render(
    *,
    title: str,
    result: CycleResult,
    frames: Frames,
    now_s: float,
    inverter: PretendInverter,
    notes: Sequence[str] = (),
    events: Sequence[str] = (),
    parser: str = "",
) -> list[str]:
    """Every line of one cycle's view, most important first (a small terminal cuts the end)."""
    lines = [f"{title} | cycle {result.cycle}"]
    lines += notes
    lines += [f"BMS  {result.source}" + (f"  | parser: {parser}" if parser else "")]
    lines += bms_lines(result.reading, now_s)
    if result.meter is not None:
        power = result.meter.grid_power_w
        flow = "import" if power >= 0 else "export"
        lines.append(f"GRID  {power:+.0f} W {flow} (meter {result.meter_age_s or 0.0:.1f} s old)")
    lines += limit_lines(result)
    heard = (
        f"gateway heard 0x305 {max(0.0, now_s - result.peer_seen_at_s):.1f} s ago"
        if result.peer_seen_at_s is not None
        else "gateway heard no 0x305"
    )
    lines += [f"INVERTER  {inverter.note}; {heard}"]
    lines += frame_lines(frames, now_s)
    if events:
        lines += [f"  {event}" for event in events[-3:]]
    return lines


def screen(lines: Sequence[str], *, tty: bool, width: int = 200, height: int = 0) -> str:
    """One frame of output: redrawn in place on a terminal (cut to its size), appended otherwise."""
    if tty:
        shown = list(lines)[: height - 1] if height > 1 else list(lines)
        return CLEAR + "\n".join(line[: width - 1] for line in shown) + "\n"
    return "\n".join(["-" * 72, *lines]) + "\n"
