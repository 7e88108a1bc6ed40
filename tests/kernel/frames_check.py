"""What the frame sets of the kernel tier must say, decoded with ``struct`` (tests/plugins/.../bytecheck).

The reference is computed natively on the host, not in the VM: the same ``jksim://`` BMS read with
``gateway jk_uart read --json``, and its limits from ``gateway limit_ladder explain --json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.kernel import canlog
from tests.kernel.guest import BMS_URL
from tests.plugins.pylontech_can.bytecheck import check_decode

GATEWAY = str(Path(sys.executable).with_name("gateway"))


@dataclass(frozen=True, slots=True)
class Reference:
    """The reading and the limits the VM's gateway must have sent."""

    voltage_v: float
    current_a: float
    soc_pct: float
    temperature_c: float
    charge_a: float
    discharge_a: float
    charge_voltage_v: float
    discharge_voltage_v: float


def reference() -> Reference:
    """Read the simulated BMS and explain its limits, natively."""
    read = subprocess.run(
        [GATEWAY, "jk_uart", "read", "--port", BMS_URL, "--json"], capture_output=True, text=True, check=True
    )
    reading = json.loads(read.stdout)
    explained = subprocess.run(
        [GATEWAY, "limit_ladder", "explain", "--json"],
        input=read.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    limits = json.loads(explained.stdout)
    probes = [value for name, value in reading["temperatures_c"].items() if name != "mosfet"]
    return Reference(
        voltage_v=reading["voltage_v"],
        current_a=reading["current_a"],
        soc_pct=reading["soc_pct"],
        temperature_c=sum(probes) / len(probes),
        charge_a=limits["charge_current_a"],
        discharge_a=limits["discharge_current_a"],
        charge_voltage_v=limits["charge_voltage_v"],
        discharge_voltage_v=limits["discharge_voltage_v"],
    )


def check_set(frames: list[canlog.Frame], ref: Reference) -> None:
    """One complete set, in order, saying what the reading and its limits say."""
    assert [f.arbitration_id for f in frames] == list(canlog.SET_IDS), frames
    decoded = {f.arbitration_id: check_decode(f.arbitration_id, f.data) for f in frames}
    assert decoded[0x351] == {
        "cvl_v": ref.charge_voltage_v,
        "ccl_a": ref.charge_a,
        "dcl_a": ref.discharge_a,
        "dvl_v": ref.discharge_voltage_v,
    }
    assert decoded[0x355] == {"soc_pct": ref.soc_pct, "soh_pct": 100}  # the JK source reports no SOH
    measured = decoded[0x356]
    assert abs(measured["voltage_v"] - ref.voltage_v) <= 0.02
    assert measured["current_a"] == ref.current_a  # + = charging in both
    assert measured["temperature_c"] == ref.temperature_c
    assert decoded[0x359] == {"protection": (0, 0), "alarm": (0, 0), "modules": 1, "pn": "PN", "dlc": 7}
    assert decoded[0x35C]["charge"] and decoded[0x35C]["discharge"]
    assert decoded[0x35E] == {"name": "PYLON   "}


def check_sets(sets: list[list[canlog.Frame]], ref: Reference, at_least: int) -> None:
    """Sets from the VM: each complete and in order; each says the reading or is a stop set.

    Under emulation a cycle can run late, and the engine then replaces a decision too old at send
    time by stop limits (the fail-safe, not a failure); at least ``at_least`` must be full sets.
    """
    full = 0
    for frames in sets:
        assert [f.arbitration_id for f in frames] == list(canlog.SET_IDS), frames
        if is_stop(frames[0]):
            requests = check_decode(canlog.REQUESTS_ID, frames[4].data)
            assert not requests["charge"] and not requests["discharge"]
        else:
            check_set(frames, ref)
            full += 1
    assert full >= at_least, (full, len(sets))


def is_stop(frame: canlog.Frame) -> bool:
    """A 0x351 that allows no current at all."""
    decoded = check_decode(frame.arbitration_id, frame.data)
    return bool(decoded["ccl_a"] == 0 and decoded["dcl_a"] == 0)


def allows(frame: canlog.Frame, ref: Reference) -> bool:
    """A 0x351 with the reference's full limits."""
    decoded = check_decode(frame.arbitration_id, frame.data)
    return bool(decoded["ccl_a"] == ref.charge_a and decoded["dcl_a"] == ref.discharge_a)
