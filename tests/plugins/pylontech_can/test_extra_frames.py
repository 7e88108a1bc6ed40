"""Real captures of the extension frames, decoded through our DBC and through struct."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager
from pylontech_can.decode import decode_candump_frame, decode_frame, parse_candump

from .bytecheck import FIELDS_35A, check_decode

DATA = Path(__file__).parent / "data"


def frames(name: str) -> list[tuple[int, bytes]]:
    return [(f.arbitration_id, f.data) for f in parse_candump((DATA / name).read_text().splitlines())]


def test_byd_on_victron_extension_frames_decode_to_what_the_capture_says() -> None:
    captured = frames("extension_captures.log")
    assert len(captured) == 15
    by_id: dict[int, list[bytes]] = {}
    for fid, data in captured:
        by_id.setdefault(fid, []).append(data)
    # 0x35A: AA in every byte = every 2-bit field "10" = ok (nothing raised)
    alarms = decode_frame(0x35A, by_id[0x35A][0])
    assert set(alarms.values()) == {"ok"} and len(alarms) == 26
    assert check_decode(0x35A, by_id[0x35A][0]) == {
        f"{n}_{k}": "ok" for k in ("alarm", "warning") for n in FIELDS_35A
    }
    # 0x35F: "Li", firmware 1.17 (0x01 0x17), 105 Ah available
    assert decode_frame(0x35F, by_id[0x35F][0]) == {
        "chemistry": "Li",
        "version_major": 1,
        "version_minor": 0x17,
        "capacity_ah": 105,
        "product_id": 0,
    }
    assert check_decode(0x35F, by_id[0x35F][0])["capacity_ah"] == 105
    # 0x372: two modules online; at power-up two blocking charge and one blocking discharge
    power_up, running = by_id[0x372]
    assert decode_frame(0x372, running) == {
        "modules_online": 2,
        "modules_blocking_charge": 0,
        "modules_blocking_discharge": 0,
        "modules_offline": 0,
    }
    assert check_decode(0x372, power_up) == {"words": (2, 2, 1, 0)}
    # 0x373: 3.306 / 3.329 V, 287 / 290 K
    assert decode_frame(0x373, by_id[0x373][0]) == {
        "min_cell_voltage_v": 3.306,
        "max_cell_voltage_v": 3.329,
        "min_cell_temperature_c": 14,
        "max_cell_temperature_c": 17,
    }
    assert check_decode(0x373, by_id[0x373][0]) == {
        "min_cell_v": 3.306,
        "max_cell_v": 3.329,
        "min_t_c": 14,
        "max_t_c": 17,
    }
    # 0x374-0x377: the module holding each extreme, as ASCII digits
    texts = [next(iter(decode_frame(fid, by_id[fid][0]).values())) for fid in (0x374, 0x375, 0x376, 0x377)]
    assert texts == ["2", "2", "2", "1"]
    assert [check_decode(fid, by_id[fid][0])["text"] for fid in (0x374, 0x375, 0x376, 0x377)] == texts
    # 0x379: 156 Ah installed (2 x 78 Ah usable)
    assert decode_frame(0x379, by_id[0x379][0]) == {"installed_capacity_ah": 156}
    assert check_decode(0x379, by_id[0x379][0]) == {"installed_ah": 156}
    # the base frames of the same capture: 58.4 V, 128 A, 128 A, 43.0 V; 53.1 V, -0.7 A, 14.0 degC
    assert check_decode(0x351, by_id[0x351][0]) == {
        "cvl_v": 58.4,
        "ccl_a": 128.0,
        "dcl_a": 128.0,
        "dvl_v": 43.0,
    }
    assert decode_frame(0x356, by_id[0x356][0], "8") == {
        "voltage_v": 53.1,
        "current_a": -0.7,
        "temperature_c": 14.0,
        "cycle_count": 0,
    }
    assert decode_frame(0x35E, by_id[0x35E][0]) == {"manufacturer": "BYD"}


def test_newer_pylontech_35a_and_35f_decode() -> None:
    captured = dict(frames("real_captures.log")[6:12])  # block B: US5000, V1.3 frame set
    assert decode_frame(0x35A, captured[0x35A]) == dict.fromkeys(
        decode_frame(0x35A, bytes(8)), "not_reported"
    )
    assert decode_frame(0x35F, captured[0x35F]) == {
        "chemistry": "LI",
        "version_major": 1,
        "version_minor": 3,
        "capacity_ah": 572,
        "product_id": 170,
    }
    # its six-byte 0x355 is the eight-byte variant cut short: SOC 84, SOH 96, no high-resolution SOC
    assert decode_frame(0x355, captured[0x355], "8") == {
        "soc_pct": 84,
        "soh_pct": 96,
        "soc_high_resolution_pct": 0.0,
    }


def test_decode_candump_with_a_profile_uses_its_layouts() -> None:
    app: typer.Typer = build_app(make_plugin_manager())
    log = "(1.0) can0 355#0F006400830C710C\n(1.1) can0 359#0000000001510000\n"
    plain = CliRunner().invoke(app, ["pylontech", "decode", "--candump", "-"], input=log)
    lux = CliRunner().invoke(
        app, ["pylontech", "decode", "--candump", "-", "--profile", "luxpower"], input=log
    )
    assert plain.exit_code == 0 and lux.exit_code == 0
    plain_records = [json.loads(line) for line in plain.stdout.splitlines()]
    lux_records = [json.loads(line) for line in lux.stdout.splitlines()]
    assert plain_records[0]["signals"] == {"soc_pct": 15, "soh_pct": 100}
    assert lux_records[0]["signals"]["max_cell_voltage_v"] == 3.203
    assert lux_records[0]["name"] == "LuxpowerStateOfCharge"
    assert lux_records[1]["signals"]["capacity_ah"] == 81 and "pn" not in lux_records[1]["signals"]
    assert plain_records[1]["signals"]["pn"] == "Q"  # read as V1.2, bytes 5-6 are 51 00 (not "PN")


def test_candump_records_of_extension_frames_carry_their_names() -> None:
    records = [
        decode_candump_frame(f)
        for f in parse_candump((DATA / "extension_captures.log").read_text().splitlines())
    ]
    names = [r["name"] for r in records]
    assert "BatteryAlarmsWarnings" in names and "BatteryInstalledCapacity" in names
    assert all(r["signals"] is not None for r in records)
