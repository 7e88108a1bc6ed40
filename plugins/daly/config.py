"""The ``[daly]`` config section (stdlib only, imported at plugin registration)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.settings import setting

#: Baud rates a Daly port may be set to (the BMS itself speaks 9600).
BAUDRATES = (4800, 9600, 19200, 38400, 57600, 115200)


@dataclass(frozen=True, slots=True)
class DalyConfig:
    """How to reach a Daly BMS on its UART or RS485 port."""

    port: str = setting(
        "/dev/ttyUSB0",
        help="serial device or pyserial URL (rfc2217://host:port, socket://host:port, dalysim://?cells=16)",
    )
    address: int = setting(
        1, min=1, max=16,
        help="board number: 1 for a single BMS (requests carry 0x40); on an RS485 line with several "
        "units, the board number set in Daly's PC tool (request 0x3F + n, reply n)",
    )  # fmt: skip
    baudrate: int = setting(9600, choices=BAUDRATES, unit="baud", help="line speed (Daly: 9600)")
    timeout: float = setting(
        0.3, min=0.05, max=5.0, unit="seconds",
        help="how long the unit may take to answer one request, on top of its frames' wire time",
    )  # fmt: skip
    invert_current: bool = setting(
        False,
        help="flip the current's sign: by default raw above 30000 is discharging, as most units report; "
        "set this for a unit that reports the opposite (the 0x93 state check refuses a wrong sign)",
    )
    capacity_ah: float | None = setting(
        None, min=1, max=10000, unit="Ah", help="the pack's nominal capacity (Daly does not report it)"
    )
    bus_gap_s: float = setting(
        0.02, min=0.0, max=1.0, unit="seconds",
        help="pause before each request, as Daly firmware needs; on a shared RS485 line also between units",
    )  # fmt: skip
    bus_wait_s: float = setting(
        0.4, min=0.0, max=10.0, unit="seconds",
        help="longest wait for the line while another instance on the same port polls its unit",
    )  # fmt: skip
