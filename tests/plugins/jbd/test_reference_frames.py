"""The public reference replies (data/jbd_frames.txt) decode to the values read off them by hand.

Each expected value below was worked out from the bytes (e.g. ``06 18`` = 1560 x 10 mV = 15.60 V,
``FF 13`` = -237 x 10 mA, NTC ``0B 8B`` = 2955 -> (2955 - 2731) / 10 = 22.4 °C), and is checked
against both the plugin's decoder and an independent ``struct`` decode.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.model import Alarm
from gateway_core.plausibility import implausibility
from jbd.decode import decode_basic, decode_cells, decode_name
from jbd.protocol import REG_BASIC, REG_CELLS, REG_NAME, parse_frame
from jbd.reading import core_alarms, to_reading

from .helpers import FRAMES, struct_basic, struct_cells

# name -> every field of BasicInfo, read off the bytes
BASIC: dict[str, dict[str, Any]] = {
    "basic_4s_3ntc_sp04s034": dict(
        voltage_v=15.60, current_a=0.0, remaining_capacity_ah=4.98, nominal_capacity_ah=5.0, cycle_count=0,
        manufacture_date="2022-03-28", balance_bits=0, protection_bits=0, software_version="8.0", soc_pct=100,
        fet_bits=3, cell_count=4, temperatures_c=(22.4, 22.3, 21.7), extension=b"",
    ),
    "basic_16s_0ntc_sp25s003": dict(
        voltage_v=0.0, current_a=0.0, remaining_capacity_ah=0.0, nominal_capacity_ah=100.0, cycle_count=0,
        manufacture_date="2022-02-16", balance_bits=0, protection_bits=0, software_version="2.0", soc_pct=0,
        fet_bits=1, cell_count=16, temperatures_c=(), extension=b"",
    ),
    "basic_4s_1ntc_ext22_dp04s007": dict(
        voltage_v=13.75, current_a=0.0, remaining_capacity_ah=191.67, nominal_capacity_ah=200.0,
        cycle_count=2, manufacture_date="2022-08-20", balance_bits=0, protection_bits=0,
        software_version="2.3", soc_pct=96,
        fet_bits=3, cell_count=4, temperatures_c=(26.2,), extension=bytes.fromhex("0000004e204adf0000"),
    ),
    "basic_4s_3ntc_discharging_sp04s020a": dict(
        voltage_v=12.76, current_a=-2.37, remaining_capacity_ah=0.0, nominal_capacity_ah=5.40, cycle_count=5,
        manufacture_date="2021-12-18", balance_bits=0, protection_bits=0, software_version="2.0", soc_pct=0,
        fet_bits=3, cell_count=4, temperatures_c=(28.7, 27.8, 27.6), extension=b"",
    ),
    "basic_4s_3ntc_mosfet_lock": dict(
        voltage_v=15.47, current_a=0.0, remaining_capacity_ah=4.93, nominal_capacity_ah=5.0, cycle_count=0,
        manufacture_date="2022-03-28", balance_bits=0, protection_bits=0x1000, software_version="8.0",
        soc_pct=99, fet_bits=2, cell_count=4, temperatures_c=(24.5, 24.2, 23.7), extension=b"",
    ),
    "basic_4s_3ntc_cell_ov_data": dict(
        voltage_v=14.28, current_a=0.0, remaining_capacity_ah=280.0, nominal_capacity_ah=280.0, cycle_count=8,
        manufacture_date="2022-03-28", balance_bits=0, protection_bits=0x0001, software_version="8.0",
        soc_pct=100, fet_bits=2, cell_count=4, temperatures_c=(21.5, 20.9, 20.4), extension=b"",
    ),
    "basic_15s_2ntc_manual": dict(
        voltage_v=58.88, current_a=0.0, remaining_capacity_ah=7.20, nominal_capacity_ah=10.0, cycle_count=0,
        manufacture_date="2016-03-24", balance_bits=0, protection_bits=0, software_version="1.0", soc_pct=72,
        fet_bits=3, cell_count=15, temperatures_c=(20.3, 21.5), extension=b"",
    ),
    "basic_8s_2ntc_sp10s009": dict(
        voltage_v=26.86, current_a=0.0, remaining_capacity_ah=99.94, nominal_capacity_ah=100.0, cycle_count=0,
        manufacture_date="2020-12-10", balance_bits=0, protection_bits=0, software_version="1.6", soc_pct=100,
        fet_bits=3, cell_count=8, temperatures_c=(23.4, 23.4), extension=b"",
    ),
    "basic_11s_2ntc_charging_balancing": dict(
        voltage_v=44.08, current_a=0.98, remaining_capacity_ah=1.64, nominal_capacity_ah=12.0, cycle_count=0,
        manufacture_date="2019-11-14", balance_bits=0x0282, protection_bits=0, software_version="2.1",
        soc_pct=14, fet_bits=3, cell_count=11, temperatures_c=(11.9, 10.1), extension=b"",
    ),
    "basic_11s_2ntc_discharging": dict(
        voltage_v=41.56, current_a=-4.98, remaining_capacity_ah=7.27, nominal_capacity_ah=12.0, cycle_count=0,
        manufacture_date="2019-11-14", balance_bits=0, protection_bits=0, software_version="2.1", soc_pct=61,
        fet_bits=3, cell_count=11, temperatures_c=(14.0, 15.6), extension=b"",
    ),
    "basic_4s_2ntc_overkill_ble": dict(
        voltage_v=13.32, current_a=0.0, remaining_capacity_ah=65.71, nominal_capacity_ah=100.0, cycle_count=0,
        manufacture_date="2021-03-21", balance_bits=0, protection_bits=0, software_version="2.0", soc_pct=66,
        fet_bits=3, cell_count=4, temperatures_c=(-30.0, 24.8), extension=b"",
    ),
    "basic_4s_3ntc_ext26_ble": dict(
        voltage_v=13.18, current_a=0.0, remaining_capacity_ah=165.58, nominal_capacity_ah=300.0,
        cycle_count=1, manufacture_date="2023-05-16", balance_bits=0, protection_bits=0,
        software_version="4.1", soc_pct=53,
        fet_bits=3, cell_count=4, temperatures_c=(21.0, 21.5, 21.2),
        extension=bytes.fromhex("0000007a0f40ae8110"),
    ),
}  # fmt: skip

CELLS_MV: dict[str, list[int]] = {
    "cells_4s_sp04s034": [3909, 3901, 3895, 3901],
    "cells_16s_sp25s003": [3600] * 15 + [0],
    "cells_4s_mosfet_lock": [3875, 3868, 3858, 3869],
    "cells_8s_sp10s009": [3336, 3376, 3380, 3382, 3337, 3336, 3337, 3380],
    "cells_11s": [4007, 4005, 4001, 3992, 3998, 4000, 4017, 4027, 4017, 4006, 4007],
    "cells_4s_ext26_ble": [3294, 3295, 3295, 3296],
}

NAMES = {
    "name_sp04s034": "JBD-SP04S034-L4S-200A-B-U",
    "name_sp10s009": "JBD-SP10S009-L8S-100A-B-K",
    "name_sp15s001": "SP15S001-P13S-30A",
}

PAIRS = [
    ("basic_4s_3ntc_sp04s034", "cells_4s_sp04s034"),
    ("basic_16s_0ntc_sp25s003", "cells_16s_sp25s003"),
    ("basic_4s_3ntc_mosfet_lock", "cells_4s_mosfet_lock"),
    ("basic_8s_2ntc_sp10s009", "cells_8s_sp10s009"),
    ("basic_11s_2ntc_charging_balancing", "cells_11s"),
    ("basic_4s_3ntc_ext26_ble", "cells_4s_ext26_ble"),
]


@pytest.mark.parametrize("name", sorted(BASIC))
def test_basic_info_decodes_field_by_field(name):
    frame = parse_frame(FRAMES[name])
    assert (frame.register, frame.status, frame.request) == (REG_BASIC, 0, False)
    info = decode_basic(frame.data)
    for field, expected in BASIC[name].items():
        assert getattr(info, field) == expected, field
    independent = struct_basic(FRAMES[name])
    assert (info.voltage_v, info.current_a, info.soc_pct) == (
        independent["voltage_v"], independent["current_a"], independent["soc_pct"]
    )  # fmt: skip
    assert list(info.temperatures_c) == independent["temperatures_c"]
    assert (info.balance_bits, info.protection_bits) == (independent["balance"], independent["protection"])


@pytest.mark.parametrize("name", sorted(CELLS_MV))
def test_cells_decode_to_millivolts(name):
    frame = parse_frame(FRAMES[name])
    assert frame.register == REG_CELLS
    cells = decode_cells(frame.data)
    assert cells == tuple(mv / 1000 for mv in CELLS_MV[name])
    assert list(cells) == struct_cells(FRAMES[name])


@pytest.mark.parametrize("name", sorted(NAMES))
def test_hardware_names(name):
    frame = parse_frame(FRAMES[name])
    assert frame.register == REG_NAME
    assert decode_name(frame.data) == NAMES[name]


def test_the_coverage_the_issue_asks_for():
    counts = {BASIC[name]["cell_count"] for name in BASIC}
    assert {4, 8, 15, 16} <= counts
    currents = [BASIC[name]["current_a"] for name in BASIC]
    assert any(c > 0 for c in currents) and any(c < 0 for c in currents)
    assert {0, 2, 3} <= {len(BASIC[name]["temperatures_c"]) for name in BASIC}
    assert any(BASIC[name]["protection_bits"] for name in BASIC)
    assert any(FRAMES[name][3] == 0x22 for name in BASIC)


def test_balancing_bits_name_cells_lsb_first():
    info = decode_basic(parse_frame(FRAMES["basic_11s_2ntc_charging_balancing"]).data)
    # 0x0282 = bits 1, 7 and 9; the highest cell (8, 4.027 V) is among them
    assert info.balancing_cells == (2, 8, 10)


def test_protection_bits_map_to_core_alarms():
    overvoltage = decode_basic(parse_frame(FRAMES["basic_4s_3ntc_cell_ov_data"]).data)
    assert overvoltage.protections == ("cell_overvoltage",)
    assert core_alarms(overvoltage, None) == {Alarm.CELL_OVERVOLTAGE}
    assert not overvoltage.charge_mosfet_on and overvoltage.discharge_mosfet_on
    locked = decode_basic(parse_frame(FRAMES["basic_4s_3ntc_mosfet_lock"]).data)
    assert locked.protections == ("mosfet_software_lock",)
    assert core_alarms(locked, None) == frozenset()  # carried by the FET bits instead


@pytest.mark.parametrize(("basic", "cells"), PAIRS)
def test_replies_make_a_reading(basic, cells):
    info = decode_basic(parse_frame(FRAMES[basic]).data)
    volts = decode_cells(parse_frame(FRAMES[cells]).data)
    reading = to_reading(info, volts, "pack1", 12.5)
    assert reading.cell_voltages_v == volts and reading.cell_count == info.cell_count
    assert (reading.voltage_v, reading.current_a, reading.soc_pct) == (
        info.voltage_v,
        info.current_a,
        info.soc_pct,
    )
    assert reading.temperatures_c == info.temperatures_c and reading.bms_temperature_c is None
    assert (reading.capacity_ah, reading.remaining_capacity_ah) == (
        info.nominal_capacity_ah, info.remaining_capacity_ah
    )  # fmt: skip
    assert (reading.charge_enabled, reading.discharge_enabled) == (
        info.charge_mosfet_on, info.discharge_mosfet_on
    )  # fmt: skip
    assert reading.cycle_count == info.cycle_count and reading.taken_at_s == 12.5


def test_the_bench_16s_capture_is_refused_by_the_core_not_trusted():
    reading = to_reading(
        decode_basic(parse_frame(FRAMES["basic_16s_0ntc_sp25s003"]).data),
        decode_cells(parse_frame(FRAMES["cells_16s_sp25s003"]).data),
        "pack1",
        0.0,
    )
    assert Alarm.CELL_ZERO_VOLTAGE in reading.alarms
    assert implausibility(reading) == "cell 16 at 0.000 V is outside 1.0-4.5 V"


def test_plausible_captures_pass_the_core_check():
    for basic, cells in PAIRS:
        if basic == "basic_16s_0ntc_sp25s003":
            continue
        reading = to_reading(
            decode_basic(parse_frame(FRAMES[basic]).data),
            decode_cells(parse_frame(FRAMES[cells]).data),
            "p",
            0.0,
        )
        assert implausibility(reading) is None, basic
