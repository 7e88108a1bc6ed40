"""The public reference frames (data/jk_uart_frames.txt) decode to the values read off them by hand."""

from __future__ import annotations

from typing import Any

import pytest

from jk_uart.decode import decode_frame
from jk_uart.protocol import JkFrameError, build_request, checksum, parse_frame
from jk_uart.reading import to_json

from .helpers import FRAMES, with_checksum_fixed

# name -> expected values, worked out byte by byte from each frame (mV per cell, 0x83 x 0.01 V, ...)
EXPECTED: dict[str, dict[str, Any]] = {
    "reply_14s_protocol_v1_doc_example": dict(
        cells_mv=[3821, 3834, 3831, 3820, 3832, 3834, 3825, 3832, 3811, 3834, 3825, 3835, 3835, 3826],
        voltage_v=53.59, current_a=2.08, soc=15, temps=(29, 30, 28), cycles=4, capacity=14,
        charge=True, discharge=True, balancing=True, charge_ocp=5, discharge_ocp=7,
        cell_ovp=4.05, cell_uvp=3.05, version="H6.X__S6.1.3S__", protocol=1,
    ),
    "reply_16s_lfp_bd6a17s6p_fw7.1.0H": dict(
        cells_mv=[3201, 3201, 3202, 3201, 3203, 3201, 3185, 3201,
                  3196, 3203, 3202, 3203, 3203, 3203, 3203, 3202],
        voltage_v=51.21, current_a=-0.69, soc=15, temps=(18, 16, 16), cycles=17, capacity=81,
        charge=True, discharge=True, balancing=False, charge_ocp=30, discharge_ocp=60,
        cell_ovp=3.65, cell_uvp=2.65, version="H7.X__S7.1.0H__", protocol=1,
    ),
    "reply_13s_liion_fw10.07": dict(
        cells_mv=[4092, 4047, 4093, 4092, 4092, 4090, 4087, 4094, 4094, 4092, 4087, 4087, 4093],
        voltage_v=53.13, current_a=0.0, soc=94, temps=(22, 19, 19), cycles=0, capacity=5,
        charge=False, discharge=False, balancing=True, charge_ocp=25, discharge_ocp=150,
        cell_ovp=4.2, cell_uvp=2.9, version="10.XW_S10.07___", protocol=1,
    ),
    "reply_14s_b1a20s15p_fw11.261_cmd03": dict(
        cells_mv=[3984, 3985, 3988, 3982, 3986, 3985, 3985, 3985, 3987, 3982, 3985, 3984, 3984, 3981],
        voltage_v=55.78, current_a=4.53, soc=100, temps=(33, 28, 30), cycles=25, capacity=234,
        charge=True, discharge=True, balancing=False, charge_ocp=85, discharge_ocp=110,
        cell_ovp=4.15, cell_uvp=3.1, version="11.XW_S11.261__", protocol=1,
    ),
    "reply_20s_old_firmware_no_B8_to_C0": dict(
        cells_mv=[3833, 3832, 3841, 3843, 3842, 3845, 3842, 3845, 3835, 3784,
                  3787, 3738, 3781, 3782, 3787, 3777, 3789, 3787, 3772, 3778],
        voltage_v=76.12, current_a=0.0, soc=71, temps=(27, 30, 30), cycles=1, capacity=40,
        charge=True, discharge=True, balancing=False, charge_ocp=20, discharge_ocp=40,
        cell_ovp=4.2, cell_uvp=2.8, version="NW_1_0_0_200428", protocol=None,
    ),
}  # fmt: skip


def decoded(name: str):
    frame = FRAMES[name]
    if name.startswith("reply_20s_old"):
        frame = with_checksum_fixed(frame)
    return decode_frame(parse_frame(frame))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_reply_decodes_to_hand_read_values(name):
    want = EXPECTED[name]
    status = decoded(name)
    assert status.cell_voltages_v == tuple(mv / 1000 for mv in want["cells_mv"])
    assert status.cell_count == len(want["cells_mv"])
    assert status.voltage_v == want["voltage_v"]
    # the pack voltage agrees with the sum of the cells (a second, independent check of the decoding)
    assert abs(status.voltage_v - sum(want["cells_mv"]) / 1000) < 0.05
    assert status.current_a == want["current_a"]
    assert (status.current_a > 0) == (want["current_a"] > 0)
    assert status.soc_pct == want["soc"]
    mosfet, t1, t2 = want["temps"]
    assert (status.mosfet_temperature_c, status.t1_temperature_c, status.t2_temperature_c) == (mosfet, t1, t2)
    assert status.cycle_count == want["cycles"]
    assert status.capacity_ah == want["capacity"]
    assert status.charge_mosfet_on is want["charge"]
    assert status.discharge_mosfet_on is want["discharge"]
    assert status.balancing is want["balancing"]
    assert status.charge_ocp_a == want["charge_ocp"]
    assert status.discharge_ocp_a == want["discharge_ocp"]
    assert status.cell_ovp_v == want["cell_ovp"]
    assert status.cell_uvp_v == want["cell_uvp"]
    assert status.software_version == want["version"]
    assert status.protocol_version == want["protocol"]
    assert status.alarms == ()
    assert status.zero_voltage_cells == ()


def test_16s_frame_matches_the_worked_example_in_full():
    status = decoded("reply_16s_lfp_bd6a17s6p_fw7.1.0H")
    assert min(status.cell_voltages_v) == 3.185
    assert status.cell_voltages_v.index(3.185) == 6  # cell 7
    assert status.cell_ovp_recovery_v == 3.55
    assert status.cell_uvp_recovery_v == 2.75
    assert status.current_encoding == "v1"
    assert status.serial_number == "BT3072020120000200521001"
    assert status.production_date == "2106"


def test_old_firmware_frame_is_refused_for_its_checksum():
    with pytest.raises(JkFrameError) as info:
        parse_frame(FRAMES["reply_20s_old_firmware_no_B8_to_C0"])
    assert info.value.reason == "checksum"
    assert "computed 0x485C, frame says 0x4923" in str(info.value)


def test_old_firmware_frame_with_corrected_checksum_uses_the_offset_current_encoding():
    status = decoded("reply_20s_old_firmware_no_B8_to_C0")
    assert status.current_encoding == "v0"
    assert status.current_a == 0.0  # raw 0x2710 = 10000 -> (10000 - 10000) x 0.01
    assert status.serial_number == "60300001"  # no 0xBA on old firmware: the device id
    assert status.actual_capacity_ah is None


@pytest.mark.parametrize(
    ("name", "source"), [("request_read_all_source_pc", 3), ("request_read_all_source_gps", 2)]
)
def test_read_all_requests_are_built_byte_for_byte(name, source):
    assert build_request(source=source) == FRAMES[name]
    frame = parse_frame(FRAMES[name])
    assert frame.is_request
    assert frame.data == b"\x00"


def test_every_reference_frame_but_the_pdf_one_has_a_valid_checksum():
    for name, frame in FRAMES.items():
        length = int.from_bytes(frame[2:4], "big")
        assert len(frame) == length + 2
        ok = checksum(frame[: length - 2]) == int.from_bytes(frame[-2:], "big")
        assert ok is (not name.startswith("reply_20s_old")), name


def test_reply_lengths_follow_241_plus_3n():
    for name in EXPECTED:
        if name.startswith("reply_20s_old"):
            continue
        frame = FRAMES[name]
        assert int.from_bytes(frame[2:4], "big") == 241 + 3 * len(EXPECTED[name]["cells_mv"])


def test_json_has_the_documented_keys():
    doc = to_json(decoded("reply_14s_protocol_v1_doc_example"))
    for key in (
        "cell_count", "cell_voltages_v", "voltage_v", "current_a", "soc_pct", "temperatures_c",
        "cycle_count", "capacity_ah", "charge_enabled", "discharge_enabled", "balancing", "alarms",
    ):  # fmt: skip
        assert key in doc
    assert doc["temperatures_c"] == {"mosfet": 29.0, "t1": 30.0, "t2": 28.0}
    assert doc["current_a"] == 2.08
    assert doc["alarms"] == []
