"""The mapping to BatteryReading: the current's sign and its check against 0x93, alarms, temperatures."""

from __future__ import annotations

import dataclasses

import pytest

from daly.decode import assemble
from daly.encode import DalyState, reply_frames
from daly.fields import FAILURE_NAMES
from daly.protocol import POLL_IDS, split_frames
from daly.reading import ALARM_MAP, DISAGREEMENT_A, alarm_of, core_alarms, signed_current, to_json, to_reading
from gateway_core.errors import ImplausibleReply
from gateway_core.model import Alarm

from .helpers import FRAMES

STATE = DalyState(
    cell_voltages_v=(3.30, 3.31, 3.29, 3.30),
    temperatures_c=(20.0, 21.0),
    voltage_v=13.2,
    current_a=12.5,
    soc_pct=60.0,
    state="charging",
    remaining_capacity_ah=150.0,
)
UNMAPPED = {
    "soc_high_l1", "soc_high_l2", "temperature_difference_l1", "temperature_difference_l2", "rtc_fault",
    "vehicle_communication_fault", *(n for n in FAILURE_NAMES if n.startswith("reserved")),
}  # fmt: skip


def poll_of(state: DalyState, ids=tuple(POLL_IDS)):
    return assemble(split_frames(b"".join(f for i in ids for f in reply_frames(state, i))))


def test_the_majority_sign_and_the_inverted_unit_read_the_same_current():
    assert signed_current(poll_of(STATE)) == 12.5
    inverted = dataclasses.replace(STATE, inverted_current=True)
    assert signed_current(poll_of(inverted), invert_current=True) == 12.5


@pytest.mark.parametrize(
    ("amps", "state"), [(12.5, "discharging"), (-12.5, "charging"), (DISAGREEMENT_A, "discharging")]
)
def test_a_current_against_the_bms_state_is_implausible(amps, state):
    poll = poll_of(dataclasses.replace(STATE, current_a=amps, state=state))
    with pytest.raises(ImplausibleReply, match=f"flows against the BMS state '{state}'"):
        signed_current(poll)
    with pytest.raises(ImplausibleReply, match=r"daly\.invert_current = false"):
        to_reading(poll, "p", 0.0)


def test_an_inverted_unit_read_without_invert_current_is_refused_not_trusted():
    poll = poll_of(dataclasses.replace(STATE, inverted_current=True))
    with pytest.raises(ImplausibleReply, match=r"current -12.5 A \(raw 30125\)"):
        to_reading(poll, "p", 0.0)


@pytest.mark.parametrize(("amps", "state"), [(0.9, "discharging"), (-0.9, "charging"), (40.0, "stationary")])
def test_small_currents_and_a_stationary_state_are_no_disagreement(amps, state):
    poll = poll_of(dataclasses.replace(STATE, current_a=amps, state=state))
    assert to_reading(poll, "p", 0.0).current_a == amps


def test_without_0x93_the_current_is_taken_as_reported():
    ids = tuple(i for i in POLL_IDS if i != 0x93)
    reading = to_reading(poll_of(dataclasses.replace(STATE, state="discharging"), ids), "p", 0.0)
    assert reading.current_a == 12.5 and reading.charge_enabled and reading.remaining_capacity_ah is None


def test_every_failure_bit_is_mapped_or_deliberately_not():
    for name in FAILURE_NAMES:
        assert (alarm_of(name) is None) == (name in UNMAPPED), name
    assert alarm_of("cell_voltage_high_l1") == alarm_of("cell_voltage_high_l2") == Alarm.CELL_OVERVOLTAGE
    assert set(ALARM_MAP.values()) <= set(Alarm)


@pytest.mark.parametrize(
    ("names", "alarms"),
    [
        (("cell_voltage_low_l2",), {Alarm.CELL_UNDERVOLTAGE}),
        (
            ("charge_temperature_low_l1", "discharge_overcurrent_l2"),
            {Alarm.BATTERY_UNDERTEMPERATURE, Alarm.DISCHARGE_OVERCURRENT},
        ),
        (("charge_mosfet_adhesion",), {Alarm.BMS_INTERNAL}),
        (("soc_high_l2", "rtc_fault"), set()),
    ],
)
def test_failure_bits_become_core_alarms(names, alarms):
    poll = poll_of(dataclasses.replace(STATE, failures=names))
    assert poll.failures is not None and poll.failures.names == names
    assert to_reading(poll, "p", 0.0).alarms == alarms


def test_a_cell_at_zero_volts_raises_its_alarm_and_stays_zero():
    poll = poll_of(dataclasses.replace(STATE, cell_voltages_v=(3.3, 0.0, 3.3, 3.3)))
    reading = to_reading(poll, "p", 0.0)
    assert Alarm.CELL_ZERO_VOLTAGE in core_alarms(poll) and reading.cell_voltages_v[1] == 0.0


def test_without_0x96_the_coldest_and_hottest_of_0x92_are_the_probes():
    ids = tuple(i for i in POLL_IDS if i != 0x96)
    reading = to_reading(poll_of(dataclasses.replace(STATE, temperatures_c=(-3.0, 8.0, 5.0)), ids), "p", 0.0)
    assert reading.temperatures_c == (-3.0, 8.0)
    only_92 = assemble(split_frames(FRAMES["derived_0x92_minus12c_minus5c"]))
    assert only_92.temperature_extremes is not None and only_92.temperatures_c is None


def test_without_0x92_or_0x96_there_are_no_probes_and_the_policy_will_not_charge():
    ids = tuple(i for i in POLL_IDS if i not in (0x92, 0x96))
    assert to_reading(poll_of(STATE, ids), "p", 0.0).temperatures_c == ()


def test_the_reading_carries_the_configured_capacity_and_the_units_remaining_one():
    reading = to_reading(poll_of(STATE), "pack2", 7.0, capacity_ah=280.0)
    assert (reading.capacity_ah, reading.remaining_capacity_ah, reading.source_id) == (280.0, 150.0, "pack2")


ISSUE_KEYS = {
    "voltage_v", "current_a", "soc_pct", "cell_voltages_v", "temperatures_c", "charge_enabled",
    "discharge_enabled", "cycle_count", "cell_count", "alarms",
}  # fmt: skip


def test_the_json_of_a_whole_poll_has_the_issue_keys_and_the_remaining_capacity():
    doc = to_json(poll_of(STATE))
    assert set(doc) == ISSUE_KEYS | {"remaining_capacity_ah"}
    assert doc["current_a"] == 12.5 and doc["cell_count"] == 4 and doc["temperatures_c"] == [20.0, 21.0]


def test_the_json_of_0x91_and_0x92_alone_names_the_cells_and_probes():
    doc = to_json(poll_of(STATE, (0x91, 0x92)))
    assert doc == {
        "max_cell_v": 3.31, "max_cell_number": 2, "min_cell_v": 3.29, "min_cell_number": 3,
        "max_temperature_c": 21.0, "max_temperature_probe": 2, "min_temperature_c": 20.0,
        "min_temperature_probe": 1,
    }  # fmt: skip
