"""The simulated BMS speaks the real bytes, implements SimulatedDevice, and misbehaves on request."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway_core.errors import ImplausibleReply
from gateway_core.registry import Registry
from gateway_core.simkit import FAULTS as CORE_FAULTS
from gateway_core.simkit import Chunk, SimulatedDevice
from jbd.decode import check_cells, decode_basic, decode_cells, decode_name
from jbd.faults import FAULTS
from jbd.protocol import REG_BASIC, REG_CELLS, REG_NAME, JbdFrameError, build_request, parse_frame
from jbd.simulator import SimulatedJbd
from jbd.upseries import find_up_frame

from .helpers import struct_basic, struct_cells


def poll(sim: SimulatedJbd, register: int) -> bytes:
    return sim.reply(build_request(register))


def test_it_is_a_simulated_device_and_registered_with_the_source():
    sim = SimulatedJbd()
    assert isinstance(sim, SimulatedDevice)
    assert set(CORE_FAULTS) <= set(FAULTS)
    assert sim.source_settings("/dev/pts/9") == {"port": "/dev/pts/9"}
    from gateway_core.plugins import collect_registrations, make_plugin_manager

    registry: Registry = collect_registrations(make_plugin_manager())
    make = registry.entries["jbd"].simulator
    assert make is not None and isinstance(make(8), SimulatedJbd) and make(8).cells == 8


def test_replies_are_valid_and_agree_with_the_state():
    sim = SimulatedJbd(cells=16, soc_pct=60, current_a=-12.5, ntc_count=2)
    basic = parse_frame(poll(sim, REG_BASIC))
    cells = parse_frame(poll(sim, REG_CELLS))
    name = parse_frame(poll(sim, REG_NAME))
    assert sim.requests == 3
    info, volts = decode_basic(basic.data), decode_cells(cells.data)
    check_cells(info, volts)
    assert volts == sim.cell_voltages() and list(volts) == struct_cells(cells.raw)
    assert (info.current_a, info.soc_pct, info.cell_count, len(info.temperatures_c)) == (-12.5, 60, 16, 2)
    assert struct_basic(basic.raw)["voltage_v"] == info.voltage_v == round(sum(volts), 2)
    assert decode_name(name.data) == sim.name


def test_an_unknown_register_is_refused_with_status_0x80():
    frame = parse_frame(poll(SimulatedJbd(), 0xAA))
    assert (frame.register, frame.status, frame.data) == (0xAA, 0x80, b"")


def test_partial_requests_are_answered_once_complete():
    sim = SimulatedJbd()
    request = build_request(REG_CELLS)
    assert sim.respond(request[:3]) == [] and sim.requests == 0
    assert len(sim.respond(request[3:])) == 1 and sim.requests == 1


def test_core_faults_render_as_specified():
    request = build_request(REG_BASIC)
    clean = SimulatedJbd().reply(request)
    expected: dict[str, Callable[[list[Chunk]], bool]] = {
        "silence": lambda chunks: chunks == [],
        "garbage": lambda chunks: 0xDD not in b"".join(c.data for c in chunks),
        "bad_checksum": lambda chunks: len(chunks) == 1 and len(chunks[0].data) == len(clean),
        "split": lambda chunks: len(chunks) == 2 and chunks[1].delay_s > 0,
        "trickle": lambda chunks: len(chunks) == len(clean) and all(c.delay_s > 0 for c in chunks),
        "noise": lambda chunks: (
            b"".join(c.data for c in chunks).endswith(clean) and len(chunks[0].data) > len(clean)
        ),
        "echo": lambda chunks: b"".join(c.data for c in chunks) == request + clean,
    }
    for fault, check in expected.items():
        sim = SimulatedJbd()
        sim.inject(fault)
        assert check(sim.respond(request)), fault
    sim = SimulatedJbd()
    sim.inject("bad_checksum")
    with pytest.raises(JbdFrameError) as caught:
        parse_frame(sim.reply(request))
    assert caught.value.reason == "checksum"


def test_nonsense_is_valid_framing_with_impossible_content():
    sim = SimulatedJbd(cells=8)
    sim.inject("nonsense")
    with pytest.raises(ImplausibleReply, match="SOC 255"):
        decode_basic(parse_frame(poll(sim, REG_BASIC)).data)
    basic = decode_basic(parse_frame(SimulatedJbd(cells=8).reply(build_request(REG_BASIC))).data)
    with pytest.raises(ImplausibleReply, match="reports 8 cells but 0x04 carries 7"):
        check_cells(basic, decode_cells(parse_frame(poll(sim, REG_CELLS)).data))


def test_protocol_faults():
    sim = SimulatedJbd()
    sim.inject("status_error", 1)
    assert parse_frame(poll(sim, REG_BASIC)).status == 0x80
    assert parse_frame(poll(sim, REG_BASIC)).status == 0x00  # count used up
    sim.inject("wrong_register", 1)
    assert parse_frame(poll(sim, REG_BASIC)).register == REG_CELLS
    sim.inject("up16s")
    found = find_up_frame(poll(sim, REG_BASIC))
    assert found is not None and found.function == 0x78
    sim.clear_faults()
    assert parse_frame(poll(sim, REG_BASIC)).ok


def test_unknown_faults_and_cell_counts_are_refused():
    sim = SimulatedJbd()
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        sim.inject("melt")
    with pytest.raises(ValueError, match="3 to 32"):
        sim.set_cell_count(33)
    with pytest.raises(ValueError):
        SimulatedJbd(cells=2)


def test_set_cell_count_keeps_the_replies_consistent():
    sim = SimulatedJbd(cells=16)
    sim.set_cell_count(15)
    info = decode_basic(parse_frame(poll(sim, REG_BASIC)).data)
    cells = decode_cells(parse_frame(poll(sim, REG_CELLS)).data)
    assert info.cell_count == len(cells) == 15


def test_physics_charging_fills_and_protection_opens_the_charge_mosfet():
    sim = SimulatedJbd(cells=4, soc_pct=97, current_a=50, capacity_ah=10)
    before = decode_basic(parse_frame(poll(sim, REG_BASIC)).data)
    for _ in range(60):
        sim.step(10)
    after = decode_basic(parse_frame(poll(sim, REG_BASIC)).data)
    assert after.soc_pct > before.soc_pct
    assert "cell_overvoltage" in after.protections and not after.charge_mosfet_on
    assert after.current_a == 0.0


def test_unplug_and_plug_flip_the_flag():
    sim = SimulatedJbd()
    sim.unplug()
    assert sim.unplugged
    sim.plug()
    assert not sim.unplugged
