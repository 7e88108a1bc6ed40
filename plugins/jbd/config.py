"""The ``[jbd]`` config section (stdlib only, imported at plugin registration)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.settings import setting

#: Line speeds a JBD UART may be set to (the boards ship at 9600 8N1).
BAUDRATES = (9600, 19200, 38400, 57600, 115200)


@dataclass(frozen=True, slots=True)
class JbdConfig:
    """How to reach a JBD / Xiaoxiang / Overkill Solar BMS on its UART (or RS485) port."""

    port: str = setting(
        "/dev/ttyUSB0",
        help="serial device or pyserial URL (rfc2217://host:port, socket://host:port, jbdsim://?cells=16)",
    )
    baudrate: int = setting(9600, choices=BAUDRATES, unit="baud", help="line speed (JBD boards: 9600)")
    timeout: float = setting(
        0.3,
        min=0.05,
        max=5.0,
        unit="seconds",
        help="deadline for one complete reply; a poll asks twice (0x03, 0x04), so keep 2 x timeout "
        "below 0.8 x gateway.period",
    )
    invert_current: bool = setting(
        False, help="flip the sign of the reported current (for a BMS whose shunt is wired backwards)"
    )
