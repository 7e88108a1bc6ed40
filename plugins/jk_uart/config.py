"""The ``[jk_uart]`` config section (stdlib only, imported at plugin registration)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.settings import setting

#: Baud rates a JK "4E 57" port may be set to (the BMS itself speaks 115200).
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400)


@dataclass(frozen=True, slots=True)
class JkUartConfig:
    """How to reach a JK BMS on its UART/RS485 ("GPS") port."""

    port: str = setting(
        "/dev/ttyUSB0",
        help="serial device or pyserial URL (rfc2217://host:port, socket://host:port, jksim://?cells=16)",
    )
    baudrate: int = setting(115200, choices=BAUDRATES, unit="baud", help="line speed (JK BMS: 115200)")
    timeout: float = setting(
        0.5,
        min=0.05,
        max=5.0,
        unit="seconds",
        help="deadline for one complete reply; at most 0.6 x gateway.period is used (warned at start)",
    )
    source_byte: int = setting(
        3, choices=(2, 3), help="frame source byte of the request: 3 = PC (most tools), 2 = GPS (esphome)"
    )
    invert_current: bool = setting(
        False, help="flip the sign of the reported current (for a BMS whose shunt is wired backwards)"
    )
    boot_check: bool = setting(
        True, help="treat SOC 0 % with 0 cycles as a BMS still booting (no reading), as JK reports for ~16 s"
    )
    rs485: bool = setting(
        False,
        help="drive an RS485 transceiver through RTS (kernel RS485 mode); not needed for adapters "
        "with automatic direction control",
    )
