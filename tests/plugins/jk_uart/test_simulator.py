"""The simulated BMS: realistic drift, valid replies for any cell count, faults on demand."""

from __future__ import annotations

import pytest

from jk_uart.decode import decode_frame
from jk_uart.faults import FAULTS
from jk_uart.protocol import FrameAssembler, JkFrameError, build_request, parse_frame
from jk_uart.simulator import SimulatedBms, forget_simulator, get_simulator, ocv

REQUEST = build_request()


def decode(reply: bytes):
    return decode_frame(parse_frame(reply))


@pytest.mark.parametrize("cells", [3, 8, 16, 32])
@pytest.mark.parametrize("version", [1, 0, None])
def test_replies_decode_to_the_simulators_status(cells, version):
    sim = SimulatedBms(cells=cells, current_a=-12.5, protocol_version=version)
    status = decode(sim.reply(REQUEST))
    assert status == sim.status
    assert status.cell_count == cells
    assert status.current_a == -12.5
    assert status.protocol_version == version


def test_gps_source_request_and_command_03_are_answered():
    sim = SimulatedBms()
    assert decode(sim.reply(build_request(source=2))).cell_count == 16
    reply = sim.reply(build_request(command=0x03))
    assert parse_frame(reply).command == 0x03


def test_requests_split_across_writes_are_answered_once_complete():
    sim = SimulatedBms()
    assert sim.respond(REQUEST[:7]) == []
    assert len(sim.respond(REQUEST[7:])) == 1
    assert sim.requests == 1


def test_cell_count_outside_3_to_32_is_refused():
    with pytest.raises(ValueError, match="3 to 32"):
        SimulatedBms(cells=33)


def test_cells_differ_and_pack_is_their_sum():
    status = SimulatedBms(cells=16, soc_pct=95).status
    assert len(set(status.cell_voltages_v)) > 1
    assert abs(status.voltage_v - sum(status.cell_voltages_v)) < 0.01


def test_ocv_curve_is_monotonic_lifepo4():
    points = [ocv(s / 2) for s in range(0, 205)]
    assert points == sorted(points)
    assert 3.25 <= ocv(50) <= 3.35


def test_charging_moves_soc_and_the_highest_cell_through_the_ladder_steps_to_ovp():
    sim = SimulatedBms(cells=16, soc_pct=90, current_a=100, capacity_ah=100)
    highest: list[float] = []
    soc = [sim.status.soc_pct]
    for _ in range(2000):
        sim.step(5)
        highest.append(max(sim.status.cell_voltages_v))
        soc.append(sim.status.soc_pct)
        if not sim.status.charge_mosfet_on:
            break
    for threshold in (3.45, 3.47, 3.50, 3.55):
        assert any(v >= threshold for v in highest), threshold
    assert highest[0] < 3.45
    assert soc[-1] > soc[0]
    # cell OVP: the BMS opens the charge MOSFET, the charge current stops and the alarm shows
    assert not sim.status.charge_mosfet_on
    assert sim.status.current_a == 0.0
    assert "cell_overvoltage" in sim.status.alarms


def test_discharging_lowers_soc_and_cells():
    sim = SimulatedBms(soc_pct=60, current_a=-50, capacity_ah=100)
    before = sim.status
    sim.step(600)
    after = sim.status
    assert after.soc_pct < before.soc_pct
    assert max(after.cell_voltages_v) < max(before.cell_voltages_v)


def test_temperature_follows_current():
    sim = SimulatedBms(current_a=150, temperature_c=20)
    sim.step(3600)
    assert sim.status.t1_temperature_c > 20


def test_drift_alternates_charge_and_discharge():
    sim = SimulatedBms(soc_pct=50, drift=True, drift_amplitude_a=30, drift_period_s=60)
    signs = set()
    for _ in range(20):
        sim.step(10)
        signs.add(sim.status.current_a > 0)
    assert signs == {True, False}


def test_set_drift_and_set_current():
    sim = SimulatedBms()
    sim.set_current(-7.5)
    assert sim.status.current_a == -7.5
    sim.set_drift(True, amplitude_a=5, period_s=10)
    assert abs(sim.status.current_a) == 5


def test_booting_reports_soc_and_cycles_zero():
    sim = SimulatedBms(soc_pct=70)
    sim.booting = True
    status = decode(sim.reply(REQUEST))
    assert (status.soc_pct, status.cycle_count) == (0, 0)


def test_zero_cell_and_forced_alarms():
    sim = SimulatedBms()
    sim.set_cell_zero(5)
    sim.set_alarm_word(1 << 7)
    status = decode(sim.reply(REQUEST))
    assert status.zero_voltage_cells == (5,)
    assert "cell_imbalance" in status.alarms


def test_silence():
    sim = SimulatedBms()
    sim.inject("silence", 1)
    assert sim.respond(REQUEST) == []
    assert len(sim.respond(REQUEST)) == 1  # count used up


def test_garbage_holds_no_frame():
    sim = SimulatedBms()
    sim.inject("garbage")
    asm = FrameAssembler()
    for _ in range(5):
        assert asm.feed(sim.reply(REQUEST)) == []
    assert {r.reason for r in asm.rejections} == {"garbage"}


def test_bad_checksum():
    sim = SimulatedBms()
    sim.inject("bad_checksum", 2)
    for _ in range(2):
        with pytest.raises(JkFrameError) as info:
            parse_frame(sim.reply(REQUEST))
        assert info.value.reason == "checksum"
    parse_frame(sim.reply(REQUEST))


def test_split_and_trickle_deliver_a_valid_frame_in_timed_pieces():
    sim = SimulatedBms(split_pause_s=0.07, trickle_byte_s=0.002)
    sim.inject("split", 1)
    split = sim.respond(REQUEST)
    assert len(split) == 2 and split[1].delay_s == 0.07
    decode(b"".join(c.data for c in split))
    sim.inject("trickle", 1)
    trickle = sim.respond(REQUEST)
    assert all(len(c.data) == 1 and c.delay_s == 0.002 for c in trickle)
    decode(b"".join(c.data for c in trickle))


def test_noise_and_echo_precede_a_valid_frame():
    sim = SimulatedBms()
    sim.inject("noise", 1)
    frames = FrameAssembler().feed(sim.reply(REQUEST))
    assert [f.is_request for f in frames] == [False]
    sim.inject("echo", 1)
    frames = FrameAssembler().feed(sim.reply(REQUEST))
    assert [f.is_request for f in frames] == [True, False]


def test_clear_faults_and_unknown_fault():
    sim = SimulatedBms()
    for fault in FAULTS:
        sim.inject(fault)
    sim.clear_faults()
    decode(sim.reply(REQUEST))
    with pytest.raises(ValueError, match="unknown fault 'fire'"):
        sim.inject("fire")


def test_registry_shares_by_name():
    forget_simulator("t-share")
    try:
        first = get_simulator("t-share", cells=8)
        assert get_simulator("t-share") is first
        assert first.cells == 8
    finally:
        forget_simulator("t-share")
    assert get_simulator("t-share") is not first
    forget_simulator("t-share")
