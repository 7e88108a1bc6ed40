"""Decode Daly reply frames (0x90-0x98) and assemble one poll into a :class:`DalyPoll`.

Pure. Offsets are within the 8 data bytes, multi-byte values big-endian. Reserved bytes carry stale
data from earlier replies on real units and are never read. Content that decodes but cannot be true
(SOC above 100 %, a cell count that contradicts the cell frames, frame numbers out of sequence, a
state byte outside its values) raises :class:`~gateway_core.errors.ImplausibleReply`: the engine then
stops at once instead of trusting the rest of the poll.

Balancing (0x97) is not decoded: the peers disagree on its bit order (cell 1 at bit 0 of data byte 0,
at bit 48 of a big-endian u64, or at the LSB of data byte 7) and no public capture with balancing
active settles it, so any mapping would be a guess about which cell is balancing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from gateway_core.errors import ImplausibleReply

from .protocol import MULTI_FRAME_IDS, POLL_IDS, DalyFrameError, Frame

CURRENT_OFFSET = 30000  # raw 0x90 current = 30000 + 10 x amps; above 30000 = discharging (majority)
TEMPERATURE_OFFSET = 40
MAX_CELLS = 48  # 16 frames x 3
MAX_PROBES = 21  # 3 frames x 7
CELLS_PER_FRAME, PROBES_PER_FRAME = 3, 7
PADDING_PROBE_BYTES = (0x00, 0xFF)  # what unused 0x96 slots read
STATES = {0: "stationary", 1: "charging", 2: "discharging"}

#: ``DalyFrameError.reason`` values the decoder adds to the framing reasons.
DECODE_REASONS = ("request", "duplicate", "board", "empty")

#: 0x98 failure bits, bit 0 = LSB of data byte 0 ... (byte 7 is a fault code, decoded apart).
FAILURE_NAMES = (
    # byte 0: voltages
    "cell_voltage_high_l1", "cell_voltage_high_l2", "cell_voltage_low_l1", "cell_voltage_low_l2",
    "pack_voltage_high_l1", "pack_voltage_high_l2", "pack_voltage_low_l1", "pack_voltage_low_l2",
    # byte 1: temperatures
    "charge_temperature_high_l1", "charge_temperature_high_l2", "charge_temperature_low_l1",
    "charge_temperature_low_l2", "discharge_temperature_high_l1", "discharge_temperature_high_l2",
    "discharge_temperature_low_l1", "discharge_temperature_low_l2",
    # byte 2: currents and SOC
    "charge_overcurrent_l1", "charge_overcurrent_l2", "discharge_overcurrent_l1", "discharge_overcurrent_l2",
    "soc_high_l1", "soc_high_l2", "soc_low_l1", "soc_low_l2",
    # byte 3: differences
    "cell_voltage_difference_l1", "cell_voltage_difference_l2", "temperature_difference_l1",
    "temperature_difference_l2", "reserved_3_4", "reserved_3_5", "reserved_3_6", "reserved_3_7",
    # byte 4: MOSFETs
    "charge_mosfet_overtemperature", "discharge_mosfet_overtemperature", "charge_mosfet_sensor_fault",
    "discharge_mosfet_sensor_fault", "charge_mosfet_adhesion", "discharge_mosfet_adhesion",
    "charge_mosfet_open_circuit", "discharge_mosfet_open_circuit",
    # byte 5: the BMS itself
    "afe_chip_fault", "cell_voltage_collection_lost", "cell_temperature_sensor_fault", "eeprom_fault",
    "rtc_fault", "precharge_failure", "vehicle_communication_fault", "internal_communication_fault",
    # byte 6
    "current_module_fault", "pack_voltage_detection_fault", "short_circuit_protection",
    "low_voltage_no_charging", "reserved_6_4", "reserved_6_5", "reserved_6_6", "reserved_6_7",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PackValues:
    """0x90: cumulative pack voltage, gathered voltage (often 0), raw current, SOC."""

    voltage_v: float
    gathered_voltage_v: float
    current_raw: int
    soc_pct: float

    @property
    def current_a(self) -> float:
        """Amps, + = charging, by the majority reading (raw above 30000 means discharging)."""
        return (CURRENT_OFFSET - self.current_raw) / 10 + 0.0


@dataclass(frozen=True, slots=True)
class CellExtremes:
    """0x91: the highest and the lowest cell (1-based numbers)."""

    max_cell_v: float
    max_cell_number: int
    min_cell_v: float
    min_cell_number: int


@dataclass(frozen=True, slots=True)
class TemperatureExtremes:
    """0x92: the hottest and the coldest probe (1-based numbers)."""

    max_temperature_c: float
    max_probe: int
    min_temperature_c: float
    min_probe: int


@dataclass(frozen=True, slots=True)
class MosfetState:
    """0x93: charge/discharge state, the two MOSFETs, "BMS life" counter, remaining capacity."""

    state: str
    charge_mosfet_on: bool
    discharge_mosfet_on: bool
    bms_life: int
    remaining_capacity_ah: float


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """0x94: cell and probe counts, charger and load present, DI/DO bits, cycles."""

    cell_count: int
    probe_count: int
    charger_connected: bool
    load_connected: bool
    io_bits: int
    cycle_count: int


@dataclass(frozen=True, slots=True)
class Failures:
    """0x98: the failure bits that are set (by name, see :data:`FAILURE_NAMES`) and the fault code."""

    names: tuple[str, ...]
    fault_code: int


@dataclass(frozen=True, slots=True)
class DalyPoll:
    """What the frames of one poll say; ``None`` for an id that was not in them.

    ``cells_counted`` is True when the cell and probe lists were cut to the counts of 0x94 (without
    it, every slot up to the last non-padding one is kept).
    """

    board: int
    pack: PackValues | None = None
    cell_extremes: CellExtremes | None = None
    temperature_extremes: TemperatureExtremes | None = None
    mosfets: MosfetState | None = None
    status: StatusInfo | None = None
    cell_voltages_v: tuple[float, ...] | None = None
    temperatures_c: tuple[float, ...] | None = None
    failures: Failures | None = None
    cells_counted: bool = False

    @property
    def ids(self) -> tuple[int, ...]:
        """The data ids this poll holds."""
        present = {
            0x90: self.pack, 0x91: self.cell_extremes, 0x92: self.temperature_extremes, 0x93: self.mosfets,
            0x94: self.status, 0x95: self.cell_voltages_v, 0x96: self.temperatures_c, 0x98: self.failures,
        }  # fmt: skip
        return tuple(data_id for data_id, value in present.items() if value is not None)


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def decode_pack(data: bytes) -> PackValues:
    """0x90 bytes 0-7. :raises ImplausibleReply: SOC above 100 %."""
    soc_raw = _u16(data, 6)
    if soc_raw > 1000:
        raise ImplausibleReply(f"0x90 says SOC {soc_raw / 10:g} %, above 100 %")
    return PackValues(_u16(data, 0) / 10, _u16(data, 2) / 10, _u16(data, 4), soc_raw / 10)


def decode_cell_extremes(data: bytes) -> CellExtremes:
    """0x91 bytes 0-5 (6-7 are stale). :raises ImplausibleReply: a cell number 0 or above 48."""
    extremes = CellExtremes(_u16(data, 0) / 1000, data[2], _u16(data, 3) / 1000, data[5])
    for number in (extremes.max_cell_number, extremes.min_cell_number):
        if not 1 <= number <= MAX_CELLS:
            raise ImplausibleReply(f"0x91 names cell {number} (cells are numbered 1..{MAX_CELLS})")
    return extremes


def decode_temperature_extremes(data: bytes) -> TemperatureExtremes:
    """0x92 bytes 0-3 (4-7 are stale). :raises ImplausibleReply: a probe number 0 or above 21."""
    extremes = TemperatureExtremes(
        float(data[0] - TEMPERATURE_OFFSET), data[1], float(data[2] - TEMPERATURE_OFFSET), data[3]
    )
    for number in (extremes.max_probe, extremes.min_probe):
        if not 1 <= number <= MAX_PROBES:
            raise ImplausibleReply(f"0x92 names probe {number} (probes are numbered 1..{MAX_PROBES})")
    return extremes


def decode_mosfets(data: bytes) -> MosfetState:
    """0x93 bytes 0-7. :raises ImplausibleReply: a state or MOSFET byte outside its values."""
    if data[0] not in STATES:
        raise ImplausibleReply(f"0x93 state byte {data[0]} (0 stationary, 1 charging, 2 discharging)")
    for name, value in (("charge", data[1]), ("discharge", data[2])):
        if value not in (0, 1):
            raise ImplausibleReply(f"0x93 {name} MOSFET byte {value} (0 off, 1 on)")
    remaining = int.from_bytes(data[4:8], "big") / 1000
    return MosfetState(STATES[data[0]], data[1] == 1, data[2] == 1, data[3], remaining)


def decode_status(data: bytes) -> StatusInfo:
    """0x94 bytes 0-6 (7 is stale). :raises ImplausibleReply: 0 or more than 48 cells, > 21 probes."""
    cells, probes = data[0], data[1]
    if not 1 <= cells <= MAX_CELLS:
        raise ImplausibleReply(f"0x94 says {cells} cells (a Daly handles 1..{MAX_CELLS})")
    if probes > MAX_PROBES:
        raise ImplausibleReply(f"0x94 says {probes} temperature probes (at most {MAX_PROBES})")
    return StatusInfo(cells, probes, data[2] != 0, data[3] != 0, data[4], _u16(data, 5))


def decode_failures(data: bytes) -> Failures:
    """0x98: bytes 0-6 are failure bits, byte 7 the fault code."""
    bits = int.from_bytes(data[:7], "little")
    names = tuple(name for bit, name in enumerate(FAILURE_NAMES) if bits >> bit & 1)
    return Failures(names, data[7])


def frames_needed(data_id: int, count: int) -> int:
    """How many 0x95 (3 cells each) or 0x96 (7 probes each) frames carry ``count`` values."""
    return math.ceil(count / (CELLS_PER_FRAME if data_id == 0x95 else PROBES_PER_FRAME))


def check_sequence(data_id: int, frames: list[Frame]) -> None:
    """Frame numbers (data byte 0) must run 1, 2, 3 ... :raises ImplausibleReply: they do not."""
    numbers = [frame.data[0] for frame in frames]
    if numbers != list(range(1, len(numbers) + 1)):
        shown = " ".join(f"{n}" for n in numbers[:20])
        raise ImplausibleReply(
            f"0x{data_id:02X} frame numbers out of sequence: {shown} (expected 1, 2, 3 ...)"
        )


def cell_slots(frames: list[Frame]) -> list[int]:
    """Every cell slot (mV) of the 0x95 frames, in order."""
    return [_u16(frame.data, 1 + 2 * i) for frame in frames for i in range(CELLS_PER_FRAME)]


def probe_slots(frames: list[Frame]) -> list[int]:
    """Every probe slot (raw byte) of the 0x96 frames, in order."""
    return [b for frame in frames for b in frame.data[1:8]]


def _counted(
    data_id: int, frames: list[Frame], slots: list[int], count: int, padding: tuple[int, ...]
) -> list[int]:
    """The first ``count`` slots; frames beyond those the count needs must hold only padding."""
    what = "cells" if data_id == 0x95 else "probes"
    per = CELLS_PER_FRAME if data_id == 0x95 else PROBES_PER_FRAME
    needed = frames_needed(data_id, count)
    if len(frames) < needed:
        raise ImplausibleReply(
            f"0x94 says {count} {what}; the {len(frames)} 0x{data_id:02X} frame(s) carry only {len(slots)}"
        )
    for index in range(needed, len(frames)):
        if any(slot not in padding for slot in slots[index * per : (index + 1) * per]):
            raise ImplausibleReply(
                f"0x94 says {count} {what}, but 0x{data_id:02X} frame {index + 1} carries more"
            )
    return slots[:count]


def _uncounted(slots: list[int], padding: tuple[int, ...]) -> list[int]:
    """Without a count: every slot up to the last one that is not padding."""
    last = max((i for i, slot in enumerate(slots) if slot not in padding), default=-1)
    return slots[: last + 1]


def _group(frames: Iterable[Frame]) -> tuple[int, dict[int, list[Frame]]]:
    replies = [frame for frame in frames if not frame.is_request]
    if not replies:
        raise DalyFrameError("request", "only requests (host address), no reply from a BMS")
    boards = sorted({frame.board for frame in replies})
    if len(boards) > 1:
        raise DalyFrameError("board", f"frames from several boards ({', '.join(map(str, boards))}); give one")
    grouped: dict[int, list[Frame]] = {}
    for frame in replies:
        if frame.data_id not in POLL_IDS:
            continue  # a reply to something else (settings, 0x50 capacity ...): not part of a poll
        grouped.setdefault(frame.data_id, []).append(frame)
    for data_id, group in grouped.items():
        if data_id not in MULTI_FRAME_IDS and len(group) > 1:
            raise DalyFrameError("duplicate", f"{len(group)} frames of 0x{data_id:02X}; a poll has one")
    if not grouped:
        raise DalyFrameError("empty", "no frame of ids 0x90..0x98")
    return boards[0], grouped


def assemble(frames: Iterable[Frame]) -> DalyPoll:
    """One poll from its reply frames (requests are skipped: a captured line holds our own echo).

    :raises DalyFrameError: frames of several boards, duplicates, no reply at all.
    :raises ImplausibleReply: decodable content that cannot be true.
    """
    board, grouped = _group(frames)
    one = {data_id: group[0].data for data_id, group in grouped.items()}
    status = decode_status(one[0x94]) if 0x94 in one else None
    cells = temps = None
    if 0x95 in grouped:
        check_sequence(0x95, grouped[0x95])
        slots = cell_slots(grouped[0x95])
        kept = (
            _counted(0x95, grouped[0x95], slots, status.cell_count, (0,))
            if status
            else _uncounted(slots, (0,))
        )
        cells = tuple(mv / 1000 for mv in kept)
    if 0x96 in grouped:
        check_sequence(0x96, grouped[0x96])
        slots = probe_slots(grouped[0x96])
        if status is not None:
            kept = _counted(0x96, grouped[0x96], slots, status.probe_count, PADDING_PROBE_BYTES)
        else:
            kept = _uncounted(slots, PADDING_PROBE_BYTES)
        temps = tuple(float(raw - TEMPERATURE_OFFSET) for raw in kept)
    poll = DalyPoll(
        board=board,
        pack=decode_pack(one[0x90]) if 0x90 in one else None,
        cell_extremes=decode_cell_extremes(one[0x91]) if 0x91 in one else None,
        temperature_extremes=decode_temperature_extremes(one[0x92]) if 0x92 in one else None,
        mosfets=decode_mosfets(one[0x93]) if 0x93 in one else None,
        status=status,
        cell_voltages_v=cells,
        temperatures_c=temps,
        failures=decode_failures(one[0x98]) if 0x98 in one else None,
        cells_counted=status is not None,
    )
    _check_numbers(poll)
    return poll


def _check_numbers(poll: DalyPoll) -> None:
    """The cell and probe numbers of 0x91/0x92 must exist under the counts of 0x94."""
    if poll.status is None:
        return
    if poll.cell_extremes is not None:
        for number in (poll.cell_extremes.max_cell_number, poll.cell_extremes.min_cell_number):
            if number > poll.status.cell_count:
                raise ImplausibleReply(
                    f"0x91 names cell {number}, but 0x94 says {poll.status.cell_count} cells"
                )
    if poll.temperature_extremes is not None:
        for number in (poll.temperature_extremes.max_probe, poll.temperature_extremes.min_probe):
            if number > poll.status.probe_count:
                raise ImplausibleReply(
                    f"0x92 names probe {number}, but 0x94 says {poll.status.probe_count} probes"
                )
