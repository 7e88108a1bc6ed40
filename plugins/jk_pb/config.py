"""The ``[jk_pb]`` config section (stdlib only, imported at plugin registration)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.settings import setting

#: Baud rates the JK-PB RS485 port may be set to (the units ship at 115200).
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400)
#: Record layouts: ``auto`` asks the pack's device info; PB units are all 32S.
LAYOUTS = ("auto", "32s", "24s")


@dataclass(frozen=True, slots=True)
class JkPbConfig:
    """How to reach one JK-PB pack on a shared RS485 line."""

    port: str = setting(
        "/dev/ttyUSB0",
        help="serial device or pyserial URL (rfc2217://host:port, jkpbsim://?packs=3); packs sharing a "
        "line name the same port",
    )
    address: int = setting(1, min=1, max=15, help="the pack's DIP-switch address (1-15; 0 is a JK master)")
    layout: str = setting(
        "auto", choices=LAYOUTS, help="cell-info record layout: auto (from the device info), 32s or 24s"
    )
    baudrate: int = setting(115200, choices=BAUDRATES, unit="baud", help="line speed (JK-PB: 115200)")
    timeout: float = setting(
        0.3, min=0.05, max=2.0, unit="seconds", help="deadline for one reply (record and ACK) once sent"
    )
    bus_gap_s: float = setting(
        0.15, min=0.0, max=2.0, unit="seconds", help="least silence between two commands on the line"
    )
