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

from .fields import (
    CELLS_PER_FRAME,
    PADDING_PROBE_BYTES,
    PROBES_PER_FRAME,
    TEMPERATURE_OFFSET,
    CellExtremes,
    Failures,
    MosfetState,
    PackValues,
    StatusInfo,
    TemperatureExtremes,
    decode_cell_extremes,
    decode_failures,
    decode_mosfets,
    decode_pack,
    decode_status,
    decode_temperature_extremes,
)
from .protocol import MULTI_FRAME_IDS, POLL_IDS, DalyFrameError, Frame

#: ``DalyFrameError.reason`` values the decoder adds to the framing reasons.
DECODE_REASONS = ("request", "duplicate", "board", "empty")


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


#: The field decoder of each single-frame id (each raises ImplausibleReply on impossible content).
FIELD_DECODERS = {
    0x90: decode_pack, 0x91: decode_cell_extremes, 0x92: decode_temperature_extremes, 0x93: decode_mosfets,
    0x94: decode_status, 0x98: decode_failures,
}  # fmt: skip


def check_reply(data_id: int, frames: list[Frame]) -> None:
    """Refuse one id's reply frames at once, before the rest of a poll is asked for.

    :raises ImplausibleReply: the content is impossible (an impossible poll stops the poll early).
    """
    if data_id in MULTI_FRAME_IDS:
        check_sequence(data_id, frames)
    elif data_id in FIELD_DECODERS:
        FIELD_DECODERS[data_id](frames[0].data)


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
