"""Every shipped profile on the PROTOCOLS worked example: the set byte for byte, decoded twice, in order.

Also: what each profile sends before the first valid reading, the Deye CVL step-down on the
injected clock, and the 29-bit 0x305 under schneider and generic.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from dataclasses import replace
from typing import Any

import can
import pytest

from gateway_core.model import BatteryReading, Fault, LimitFlag, Limits
from gateway_core.roles import PluginContext
from pylontech_can.config import PylontechConfig
from pylontech_can.dbc import load_database
from pylontech_can.frames import CanFrame, FrameBuilder
from pylontech_can.profile import FRAME_TOKENS, load_shipped, shipped_names
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock

from .bytecheck import FIELDS_35A, check_decode

#: 0x35A fields the gateway has nothing to say about (no such sensor on a JK-class BMS).
NOT_REPORTED = {"high_temperature_charge", "low_temperature_charge", "contactor", "short_circuit"}

BOTH = LimitFlag.CHARGE | LimitFlag.DISCHARGE
# PROTOCOLS 6: reply_16s_lfp_bd6a17s6p_fw7.1.0H as the jk_uart source reads it (cells, 81 Ah, 17 cycles).
WORKED = BatteryReading(
    source_id="jk",
    taken_at_s=0.0,
    voltage_v=51.21,
    current_a=-0.69,
    soc_pct=15.0,
    cell_voltages_v=(
        *(3.201, 3.201, 3.202, 3.201, 3.203, 3.201, 3.185, 3.201),
        *(3.196, 3.203, 3.202, 3.203, 3.203, 3.203, 3.203, 3.202),
    ),
    temperatures_c=(16.0, 16.0),
    bms_temperature_c=18.0,
    bms_charge_current_limit_a=30.0,
    bms_discharge_current_limit_a=60.0,
    cycle_count=17,
    capacity_ah=81.0,
)
LIMITS = Limits(30.0, 50.0, 55.2, 50.4, BOTH, ("worked example",))

BASE = {
    "0x351": "351#28022C01F401F801",  # 55.2 V, 30.0 A, 50.0 A, 50.4 V
    "0x355": "355#0F006400",  # SOC 15, SOH 100
    "0x355/8": "355#0F006400DC057A00",  # + SOC 15.00 % (1500), remaining 12.2 Ah (81 x 15 %)
    "0x355/luxpower": "355#0F006400830C710C",  # + max 3.203 V, min 3.185 V (mV)
    "0x356": "356#0114F9FFA000",  # 51.21 V, -0.7 A, 16.0 degC
    "0x356/8": "356#0114F9FFA0001100",  # + 17 cycles
    "0x356/luxpower": "356#0114F9FFA000A000",  # max 16.0, min 16.0 degC
    "0x359": "359#0000000001504E",  # no flags, 1 module, PN
    "0x359/luxpower": "359#0000000001510000",  # no flags, 1 module, 81 Ah
    "0x35C": "35C#C000",
    "0x35C/luxpower": "35C#C000110000000000",  # + 17 cycles
    "0x35E": "35E#50594C4F4E202020",  # "PYLON   "
    "0x35A": "35A#AA828202AA828202",  # every reported field "ok" (2)
    "0x35F": "35F#4C49010051000000",  # "LI", 1.0, 81 Ah
    "0x372": "372#0100000000000000",  # 1 module online
    "0x373": "373#710C830C21012101",  # 3.185 / 3.203 V, 289 K / 289 K
    "0x374": "374#3700000000000000",  # cell 7 lowest
    "0x375": "375#3500000000000000",  # cell 5 highest (first of the 3.203 V cells)
    "0x376": "376#3100000000000000",  # probe 1
    "0x377": "377#3100000000000000",
    "0x379": "379#5100000000000000",  # 81 Ah
}
SMA_NAME = "35E#534D412020202020"  # "SMA     "
# Values each frame of BASE says, worked out by hand from the tables (what both decoders must find).
PHYSICAL: dict[str, dict[str, Any]] = {
    "0x351": {"cvl_v": 55.2, "ccl_a": 30.0, "dcl_a": 50.0, "dvl_v": 50.4},
    "0x355": {"soc_pct": 15, "soh_pct": 100},
    "0x355/8": {"soc_pct": 15, "soh_pct": 100, "soc_hires_pct": 15.0, "remaining_ah": 12.2},
    "0x355/luxpower": {"soc_pct": 15, "soh_pct": 100, "max_cell_v": 3.203, "min_cell_v": 3.185},
    "0x356": {"voltage_v": 51.21, "current_a": -0.7, "temperature_c": 16.0},
    "0x356/8": {"voltage_v": 51.21, "current_a": -0.7, "temperature_c": 16.0, "cycles": 17},
    "0x356/luxpower": {"voltage_v": 51.21, "current_a": -0.7, "max_t_c": 16.0, "min_t_c": 16.0},
    "0x359": {"protection": (0, 0), "alarm": (0, 0), "modules": 1, "pn": "PN", "dlc": 7},
    "0x359/luxpower": {"protection": (0, 0), "alarm": (0, 0), "modules": 1, "capacity_ah": 81, "dlc": 8},
    "0x35C": {
        "charge": True,
        "discharge": True,
        "force_1": False,
        "force_2": False,
        "full": False,
        "byte1": 0,
    },
    "0x35C/luxpower": {
        "charge": True,
        "discharge": True,
        "force_1": False,
        "force_2": False,
        "full": False,
        "byte1": 0,
        "cycles": 17,
    },
    "0x35E": {"name": "PYLON   "},
    "0x35F": {"chemistry": "LI", "version": (1, 0), "capacity_ah": 81, "id": 0},
    "0x35A": {
        f"{name}_{kind}": "not_reported" if name in NOT_REPORTED else "ok"
        for kind in ("alarm", "warning")
        for name in FIELDS_35A
    },
    "0x372": {"words": (1, 0, 0, 0)},
    "0x373": {"min_cell_v": 3.185, "max_cell_v": 3.203, "min_t_c": 16, "max_t_c": 16},
    "0x374": {"text": "7"},
    "0x375": {"text": "5"},
    "0x376": {"text": "1"},
    "0x377": {"text": "1"},
    "0x379": {"installed_ah": 81},
}
# The same facts as the DBC decoder names them (signal + unit suffix).
VIA_DBC: dict[str, dict[str, Any]] = {
    "0x351": {
        "charge_voltage_limit": 55.2,
        "charge_current_limit": 30.0,
        "discharge_current_limit": 50.0,
        "discharge_voltage_limit": 50.4,
    },
    "0x355/8": {"soc": 15, "soh": 100, "soc_high_resolution": 15.0, "remaining_capacity": 12.2},
    "0x355/luxpower": {"soc": 15, "soh": 100, "max_cell_voltage": 3.203, "min_cell_voltage": 3.185},
    "0x356/8": {"voltage": 51.21, "current": -0.7, "temperature": 16.0, "cycle_count": 17},
    "0x356/luxpower": {
        "voltage": 51.21,
        "current": -0.7,
        "max_cell_temperature": 16.0,
        "min_cell_temperature": 16.0,
    },
    "0x359/luxpower": {"module_count": 1, "capacity": 81},
    "0x35C/luxpower": {"charge_enable": 1, "discharge_enable": 1, "cycle_count": 17},
    "0x35A": {"general_alarm": 2, "contactor_alarm": 0, "cell_imbalance_alarm": 2, "general_warning": 2},
    "0x35F": {"version_major": 1, "version_minor": 0, "capacity": 81, "product_id": 0},
    "0x372": {"modules_online": 1, "modules_offline": 0},
    "0x373": {"min_cell_voltage": 3.185, "max_cell_voltage": 3.203, "min_cell_temperature": 16},
    "0x379": {"installed_capacity": 81},
}


def expected_set(name: str) -> list[str]:
    """The worked example's set under profile ``name``: BASE in the profile's order."""
    profile = load_shipped(name)
    out = [BASE[token] for token in profile.frames]
    return [SMA_NAME if line.startswith("35E#") and profile.manufacturer == "SMA" else line for line in out]


@pytest.mark.parametrize("name", shipped_names())
def test_each_profile_sends_its_set_for_the_worked_example_byte_for_byte(name: str) -> None:
    profile = load_shipped(name)
    frames = FrameBuilder(PylontechConfig(profile=name)).build(WORKED, LIMITS)
    assert [str(f) for f in frames] == expected_set(name)
    assert [f.arbitration_id for f in frames] == [FRAME_TOKENS[t][0] for t in profile.frames]


@pytest.mark.parametrize("name", shipped_names())
def test_each_frame_decodes_the_same_through_the_dbc_and_through_struct(name: str) -> None:
    profile = load_shipped(name)
    frames = FrameBuilder(PylontechConfig(profile=name)).build(WORKED, LIMITS)
    for token, frame in zip(profile.frames, frames, strict=True):
        variant = FRAME_TOKENS[token][1]
        by_hand = check_decode(frame.arbitration_id, frame.data, variant)
        expected = dict(PHYSICAL[token])
        if token == "0x35E":
            expected = {"name": profile.manufacturer.ljust(8)}
        assert by_hand == expected, token
        via_dbc: Any = load_database(variant).decode_message(
            frame.arbitration_id, frame.data, decode_choices=False
        )
        for signal, value in VIA_DBC.get(token, {}).items():
            assert via_dbc[signal] == pytest.approx(value), (token, signal)


def test_the_generic_profile_is_the_v12_set_unchanged() -> None:
    assert load_shipped("generic").frames == ("0x351", "0x355", "0x356", "0x359", "0x35C", "0x35E")
    assert [str(f) for f in FrameBuilder(PylontechConfig()).build(WORKED, LIMITS)] == expected_set("generic")


# -- before the first valid reading ---------------------------------------------------------


@pytest.mark.parametrize("name", shipped_names())
@pytest.mark.parametrize(
    "limits",
    [
        Limits.stop("no reading yet", Fault.NO_READING),
        LIMITS,
    ],  # even a policy's limits: no reading backs them
    ids=["stop", "limits"],
)
def test_before_the_first_reading_only_what_carries_no_measured_value(name: str, limits: Limits) -> None:
    profile = load_shipped(name)
    frames = FrameBuilder(PylontechConfig(profile=name)).build(None, limits)
    ids = [f.arbitration_id for f in frames]
    assert 0x355 not in ids and 0x356 not in ids
    assert set(ids) <= {0x351, 0x359, 0x35A, 0x35C, 0x35E}
    assert ids == [FRAME_TOKENS[t][0] for t in profile.frames if t in profile.before_first_reading]
    data = {f.arbitration_id: f.data for f in frames}
    if 0x351 in data:  # no placeholder: 0 A both ways, and the fallback 16 x 3.45 / 3.15 V
        assert check_decode(0x351, data[0x351]) == {"cvl_v": 55.2, "ccl_a": 0.0, "dcl_a": 0.0, "dvl_v": 50.4}
    if 0x35C in data:
        assert data[0x35C][0] == 0
    if 0x359 in data and limits.fault is not None:
        assert data[0x359][3] & 0x08  # internal communication fail: the inverter knows why


def test_victron_gets_nothing_at_all_before_the_first_reading_then_the_full_set() -> None:
    builder = FrameBuilder(PylontechConfig(profile="victron"))
    assert builder.build(None, Limits.stop("no reading yet", Fault.NO_READING)) == ()
    assert len(builder.build(WORKED, LIMITS)) == 15
    stale = builder.build(None, Limits.stop("stale", Fault.STALE_READING))
    assert len(stale) == 15  # once real data was seen, stale cycles repeat it with 0 A
    data = {f.arbitration_id: f.data for f in stale}
    assert check_decode(0x351, data[0x351])["ccl_a"] == 0.0
    assert check_decode(0x356, data[0x356])["current_a"] == 0.0
    assert check_decode(0x35A, data[0x35A])["general_alarm"] == "raised"
    assert check_decode(0x372, data[0x372]) == {"words": (0, 0, 0, 1)}  # nothing vouched for


def test_extension_frames_without_their_values_are_left_out() -> None:
    builder = FrameBuilder(PylontechConfig(profile="victron"))
    bare = replace(WORKED, capacity_ah=None, temperatures_c=())
    ids = [f.arbitration_id for f in builder.build(bare, LIMITS)]
    assert ids == [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E, 0x35A, 0x372, 0x374, 0x375]


# -- the Deye CVL step-down -----------------------------------------------------------------


def cvl_and_ccl(frames: tuple[CanFrame, ...]) -> tuple[float, float]:
    limits = check_decode(0x351, {f.arbitration_id: f.data for f in frames}[0x351])
    return limits["cvl_v"], limits["ccl_a"]


def test_deye_lowers_a_cvl_drop_as_a_ramp_while_the_charge_limit_drops_at_once() -> None:
    builder = FrameBuilder(PylontechConfig(profile="deye"))
    clock = FakeClock(0.0)
    assert cvl_and_ccl(builder.build(WORKED, LIMITS, now_s=clock.now())) == (55.2, 30.0)
    floated = Limits(0.0, 50.0, 53.6, 50.4, LimitFlag.DISCHARGE, ("float",))
    seen = []
    for _ in range(60):
        clock.advance(60.0)
        seen.append(cvl_and_ccl(builder.build(WORKED, floated, now_s=clock.now())))
    assert seen[0][1] == 0.0  # the current limit is 0 in the very cycle the drop arrives
    assert all(ccl == 0.0 for _, ccl in seen)
    cvls = [cvl for cvl, _ in seen]
    assert cvls[0] > 53.6 and cvls[0] >= 55.1  # 0.033 V per minute: one step of 0.1 V at most
    assert cvls == sorted(cvls, reverse=True)  # falls, never jumps back up
    assert max(a - b for a, b in itertools.pairwise(cvls)) <= 0.1 + 1e-9  # no bigger steps
    assert cvls[-1] == 53.6  # 1.6 V at 0.033 V/min: there after 49 minutes
    assert cvls.index(53.6) == 46  # 55.2 - 0.033 x 47 = 53.649 is the first to round to 53.6


def test_deye_raises_the_cvl_at_once_and_generic_never_ramps() -> None:
    deye = FrameBuilder(PylontechConfig(profile="deye"))
    low = Limits(30.0, 50.0, 53.6, 50.4, BOTH)
    assert cvl_and_ccl(deye.build(WORKED, low, now_s=0.0))[0] == 53.6
    assert cvl_and_ccl(deye.build(WORKED, LIMITS, now_s=1.0))[0] == 55.2
    generic = FrameBuilder(PylontechConfig())
    generic.build(WORKED, LIMITS, now_s=0.0)
    assert cvl_and_ccl(generic.build(WORKED, low, now_s=1.0))[0] == 53.6


def test_the_step_down_limit_can_be_set_for_any_profile() -> None:
    builder = FrameBuilder(PylontechConfig(cvl_step_down_v_per_min=0.6))  # generic + override
    builder.build(WORKED, LIMITS, now_s=0.0)
    low = Limits(30.0, 50.0, 53.6, 50.4, BOTH)
    assert cvl_and_ccl(builder.build(WORKED, low, now_s=60.0))[0] == 54.6
    assert cvl_and_ccl(builder.build(WORKED, low, now_s=180.0))[0] == 53.6


# -- 29-bit 0x305 ---------------------------------------------------------------------------


def heard_29_bit(profile: str) -> float | None:
    clock = FakeClock()
    channel = f"peer29-{uuid.uuid4().hex}"
    config = PylontechConfig(interface="virtual", channel=channel, profile=profile, frame_gap_s=0.0)
    sink = PylontechSink(config, PluginContext("pylontech", clock, logging.getLogger("test.p29")))
    sink.open()
    with can.Bus(interface="virtual", channel=channel) as inverter:
        inverter.send(can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=True))
        report = sink.publish(WORKED, LIMITS)
    sink.close()
    return report.peer_seen_at_s


def test_a_29_bit_0x305_counts_as_the_inverter_under_schneider_and_not_under_generic() -> None:
    assert heard_29_bit("schneider") is not None
    assert heard_29_bit("generic") is None


def test_the_reported_soc_and_the_pack_count_reach_the_frames() -> None:
    builder = FrameBuilder(PylontechConfig(profile="sofar"))
    capped = replace(LIMITS, reported_soc_pct=98.0)
    bank = replace(WORKED, soc_pct=100.0, pack_count=3)
    data = {f.arbitration_id: f.data for f in builder.build(bank, capped)}
    assert check_decode(0x355, data[0x355], "8")["soc_pct"] == 98  # the policy's SOC, not the reading's
    assert check_decode(0x355, data[0x355], "8")["soc_hires_pct"] == 98.0
    assert check_decode(0x359, data[0x359])["modules"] == 3
    stale = {f.arbitration_id: f.data for f in builder.build(None, Limits.stop("stale", Fault.STALE_READING))}
    assert check_decode(0x355, stale[0x355], "8")["soc_pct"] == 98  # repeated as last told
    own = FrameBuilder(PylontechConfig(module_count=6)).build(bank, capped)
    assert check_decode(0x359, {f.arbitration_id: f.data for f in own}[0x359])["modules"] == 6
    plain = {f.arbitration_id: f.data for f in FrameBuilder(PylontechConfig()).build(bank, LIMITS)}
    assert check_decode(0x355, plain[0x355])["soc_pct"] == 100
