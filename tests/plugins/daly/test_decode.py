"""Content that decodes but cannot be true raises ImplausibleReply; what may vary on real units does not."""

from __future__ import annotations

import pytest

from daly.decode import assemble
from daly.encode import DalyState, reply_frames
from daly.protocol import DalyFrameError, build_reply, split_frames
from gateway_core.errors import FrameError, ImplausibleReply

from .helpers import FRAMES

STATE = DalyState(
    cell_voltages_v=(3.30, 3.31, 3.29, 3.30, 3.30, 3.31, 3.30, 3.29),
    temperatures_c=(20.0, 21.0),
    voltage_v=26.4,
    current_a=-5.0,
    soc_pct=60.0,
    state="discharging",
    remaining_capacity_ah=150.0,
)


def frames_of(state: DalyState, *ids: int) -> list[bytes]:
    return [frame for data_id in ids for frame in reply_frames(state, data_id)]


def poll_of(raw_frames: list[bytes]):
    return assemble(split_frames(b"".join(raw_frames)))


def with_data(data_id: int, data: bytes) -> bytes:
    return build_reply(data_id, data)


def test_implausible_is_a_frame_error_the_engine_stops_on():
    assert issubclass(ImplausibleReply, FrameError)


def test_soc_above_100_percent_is_implausible():
    with pytest.raises(ImplausibleReply, match="SOC 150 %"):
        poll_of([with_data(0x90, bytes.fromhex("0108 0000 7562 05dc"))])


@pytest.mark.parametrize(
    ("cells", "probes", "match"), [(0, 1, "0 cells"), (49, 1, "49 cells"), (8, 22, "22 temp")]
)
def test_counts_out_of_range_are_implausible(cells, probes, match):
    with pytest.raises(ImplausibleReply, match=match):
        poll_of([with_data(0x94, bytes((cells, probes, 0, 0, 0, 0, 5, 0)))])


def test_more_cell_frames_than_the_count_needs_carrying_voltages_contradict_it():
    """0x94 says 5 cells, but 0x95 frame 3 carries voltages: the count or the cells are wrong."""
    frames = frames_of(STATE, 0x94, 0x95)
    frames[0] = with_data(0x94, bytes((5, 2, 0, 0, 0, 0, 5, 0)))
    with pytest.raises(ImplausibleReply, match="0x94 says 5 cells, but 0x95 frame 3 carries more"):
        poll_of(frames)


def test_fewer_cell_frames_than_the_count_needs_contradict_it():
    frames = frames_of(STATE, 0x94, 0x95)
    with pytest.raises(ImplausibleReply, match="0x94 says 8 cells; the 2 0x95 frame"):
        poll_of(frames[:-1])


def test_padding_frames_beyond_the_count_are_fine():
    frames = [*frames_of(STATE, 0x94, 0x95), with_data(0x95, bytes((4, 0, 0, 0, 0, 0, 0, 0x40)))]
    assert poll_of(frames).cell_voltages_v == STATE.cell_voltages_v


def test_stale_slots_after_the_last_cell_are_not_cells():
    frames = frames_of(STATE, 0x94, 0x95)
    assert frames[-1][9:11] != bytes(2)  # the encoder fills them with stale values, as units do
    assert poll_of(frames).cell_voltages_v == STATE.cell_voltages_v


@pytest.mark.parametrize("numbers", [(2, 3, 4), (1, 1, 2), (0, 1, 2), (1, 3, 2), (1, 2, 0xFF)])
def test_cell_frame_numbers_out_of_sequence_are_implausible(numbers):
    frames = frames_of(STATE, 0x95)
    renumbered = [
        with_data(0x95, bytes((n,)) + split_frames(f)[0].data[1:])
        for n, f in zip(numbers, frames, strict=True)
    ]
    with pytest.raises(ImplausibleReply, match="0x95 frame numbers out of sequence"):
        poll_of(renumbered)


def test_probe_frame_numbers_out_of_sequence_are_implausible():
    with pytest.raises(ImplausibleReply, match="0x96 frame numbers"):
        poll_of([with_data(0x96, bytes((2, 60, 61, 0, 0, 0, 0, 0)))])


def test_probes_beyond_the_count_in_extra_frames_must_be_padding():
    frames = [*frames_of(STATE, 0x94, 0x96), with_data(0x96, bytes((2, 0x00, 0xFF, 0, 0, 0, 0, 0)))]
    assert poll_of(frames).temperatures_c == (20.0, 21.0)
    frames[-1] = with_data(0x96, bytes((2, 61, 0, 0, 0, 0, 0, 0)))
    with pytest.raises(ImplausibleReply, match="0x96 frame 2 carries more"):
        poll_of(frames)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (bytes((3, 1, 1, 0, 0, 0, 0, 0)), "state byte 3"),
        (bytes((1, 2, 1, 0, 0, 0, 0, 0)), "charge MOSFET byte 2"),
        (bytes((1, 1, 7, 0, 0, 0, 0, 0)), "discharge MOSFET byte 7"),
    ],
)
def test_0x93_bytes_outside_their_values_are_implausible(data, match):
    with pytest.raises(ImplausibleReply, match=match):
        poll_of([with_data(0x93, data)])


def test_extremes_naming_a_cell_or_probe_that_does_not_exist_are_implausible():
    frames = frames_of(STATE, 0x94)
    with pytest.raises(ImplausibleReply, match="0x91 names cell 9, but 0x94 says 8 cells"):
        poll_of([*frames, with_data(0x91, bytes.fromhex("0ce4 09 0cd0 01 0000"))])
    with pytest.raises(ImplausibleReply, match="0x92 names probe 3, but 0x94 says 2 probes"):
        poll_of([*frames, with_data(0x92, bytes((60, 3, 59, 1, 0, 0, 0, 0)))])
    with pytest.raises(ImplausibleReply, match="0x91 names cell 0"):
        poll_of([with_data(0x91, bytes.fromhex("0ce4 00 0cd0 01 0000"))])


def test_two_frames_of_a_single_frame_id_are_refused():
    with pytest.raises(DalyFrameError, match="2 frames of 0x90") as err:
        poll_of(frames_of(STATE, 0x90, 0x90))
    assert err.value.reason == "duplicate"


def test_frames_of_two_boards_are_refused():
    other = build_reply(0x93, split_frames(frames_of(STATE, 0x93)[0])[0].data, board=2)
    with pytest.raises(DalyFrameError, match="several boards") as err:
        poll_of([*frames_of(STATE, 0x90), other])
    assert err.value.reason == "board"


def test_without_0x94_every_slot_up_to_the_last_non_zero_one_is_kept():
    poll = assemble(split_frames(FRAMES["mppsolar_0x95_16s_16frames"]))
    assert poll.cell_voltages_v is not None and len(poll.cell_voltages_v) == 16 and not poll.cells_counted


def test_a_reply_to_another_id_is_not_part_of_a_poll():
    with pytest.raises(DalyFrameError, match="no frame of ids") as err:
        poll_of([with_data(0x50, bytes(8))])
    assert err.value.reason == "empty"
