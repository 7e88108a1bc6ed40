"""The ``[pylontech]`` section: which CAN bus, which inverter profile, what the frames say (stdlib only).

The profile keys (``frames``, ``manufacturer``, ``peer_silent_after_s``, ...) default to ``None``,
meaning "what the profile says"; a value set here overrides the profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway_core.settings import setting

from .profile import (
    MANUFACTURER_LEN,
    ProfileError,
    check_before_first_reading,
    check_frames,
    check_manufacturer,
    check_peer_ids,
    shipped_names,
)

__all__ = ["MANUFACTURER_LEN", "PylontechConfig"]


@dataclass(frozen=True, slots=True)
class PylontechConfig:
    """How the ``pylontech`` sink reaches the bus and fills the Pylontech low-voltage CAN frames."""

    interface: str = setting(
        "socketcan",
        help="python-can interface: socketcan, slcan (CANable and other USB-serial adapters), virtual, "
        "udp_multicast, ...",
    )
    channel: str = setting(
        "can0", help="python-can channel: can0 for socketcan, a serial port such as /dev/ttyACM0 for slcan"
    )
    bitrate: int = setting(
        500000,
        min=10000,
        max=1000000,
        unit="bit/s",
        help="CAN bitrate (Pylontech uses 500000); socketcan ignores it: set it with `ip link`",
    )
    bus_options: Mapping[str, str | int | float | bool] = setting(
        {},
        help="extra keyword arguments for can.Bus, e.g. { tty_baudrate = 115200 } for slcan",
    )
    profile: str = setting(
        "generic",
        choices=shipped_names(),
        help="inverter profile: which frames, 0x35E name, 0x305 handling and CVL step-down the inverter "
        "family expects (`gateway pylontech profiles`); generic = the Pylontech V1.2 set",
    )
    profile_file: str | None = setting(
        None, help="a TOML file with your own profile (same keys as the shipped ones); replaces `profile`"
    )
    frames: tuple[str, ...] | None = setting(
        None,
        help='profile override: frames to send, in order, e.g. ["0x351", "0x355/8", ...] '
        "(the six base frames plus any of 0x35A, 0x35F, 0x370-0x377, 0x379)",
    )
    before_first_reading: tuple[str, ...] | None = setting(
        None, help="profile override: frames sent before the first valid reading (no measured values)"
    )
    manufacturer: str | None = setting(
        None, help="profile override: manufacturer name in 0x35E (ASCII, up to 8 characters)"
    )
    peer_ids: tuple[str, ...] | None = setting(
        None, help='profile override: frame ids that count as the inverter, e.g. ["0x305"]'
    )
    peer_extended_ids: bool | None = setting(
        None, help="profile override: a 29-bit frame with a peer id counts as the inverter too"
    )
    cvl_step_down_v_per_min: float | None = setting(
        None,
        min=0.0,
        max=100.0,
        unit="V/min",
        help="profile override: fastest fall of the sent CVL (0 = at once); never slows the currents",
    )
    module_count: int | None = setting(
        None,
        min=1,
        max=255,
        help="battery module count reported in 0x359 byte 4 (default: the reading's pack count: 1 for one "
        "pack)",
    )
    send_discharge_voltage: bool = setting(
        True, help="send the discharge voltage limit in 0x351 bytes 6-7 (false: 0x351 has 6 bytes)"
    )
    system_error_bit: int = setting(
        3,
        choices=(3, 7),
        help="bit of 0x359 byte 1 used for 'system error' (3 per the V1.2 spec, 7 as some emulators)",
    )
    temperature_mode: Literal["mean", "max"] = setting(
        "mean",
        choices=("mean", "max"),
        help="0x356 temperature: mean of the battery probes, or the max of probes and BMS (MOSFET) sensor",
    )
    stop_charge_voltage_v: float | None = setting(
        None,
        min=0.0,
        max=6553.5,
        unit="V",
        help="CVL sent with stop limits until limits resting on a plausible reading carried one "
        "(default: cell count x "
        "cell_charge_voltage_v)",
    )
    stop_discharge_voltage_v: float | None = setting(
        None,
        min=0.0,
        max=6553.5,
        unit="V",
        help="DVL sent with stop limits until limits resting on a plausible reading carried one "
        "(default: cell count x "
        "cell_discharge_voltage_v)",
    )
    fallback_cell_count: int = setting(
        16, min=1, max=64, help="cells in series assumed for the stop CVL/DVL before the first reading"
    )
    cell_charge_voltage_v: float = setting(
        3.45, min=1.0, max=4.5, unit="V", help="per-cell CVL for stop limits when none is known"
    )
    cell_discharge_voltage_v: float = setting(
        3.15, min=1.0, max=4.5, unit="V", help="per-cell DVL for stop limits when none is known"
    )
    frame_gap_s: float = setting(
        0.002,
        min=0.0,
        max=0.05,
        unit="seconds",
        help="pause between the frames of one set, so a small adapter's or receiver's queue (MCP2515: "
        "2 buffers) does not overflow; 0 sends back to back. Six frames cost 5 gaps per cycle",
    )
    slcan_open_wait_s: float = setting(
        0.1,
        min=0.0,
        max=5.0,
        unit="seconds",
        help="slcan only: wait after opening the serial port before the first command. CANable-class "
        "adapters are ready at once; an Arduino-style adapter that resets on open needs 2",
    )
    send_timeout_s: float = setting(
        0.1,
        min=0.001,
        max=1.0,
        unit="seconds",
        help="how long one frame may wait for room in the transmit buffer before the bus is reopened",
    )
    force_charge_soc_pct: float | None = setting(
        None,
        min=0.0,
        max=100.0,
        unit="%",
        help="request a force charge (0x35C) at or below this SOC; off when not set",
    )
    force_charge_release_soc_pct: float = setting(
        20.0, min=0.0, max=100.0, unit="%", help="stop requesting the force charge at or above this SOC"
    )
    force_charge_bit: int = setting(
        4,
        choices=(4, 5),
        help="0x35C bit for the force charge request: 4 (request II, preferred) or 5 (request I)",
    )
    peer_silent_after_s: float | None = setting(
        None,
        min=1.0,
        max=3600.0,
        unit="seconds",
        help="profile override: log that the inverter went silent when no 0x305 arrived for this long",
    )
    obey_margin_a: float = setting(
        5.0,
        min=0.0,
        max=1000.0,
        unit="A",
        help="the inverter ignores the limits when the measured current exceeds the CCL or DCL by more "
        "than this ...",
    )
    obey_after_s: float = setting(
        30.0, min=1.0, max=3600.0, unit="seconds", help="... for longer than this (reported every cycle)"
    )

    def __post_init__(self) -> None:
        try:
            if self.manufacturer is not None:
                check_manufacturer(self.manufacturer)
            if self.frames is not None:
                check_frames(self.frames)
            if self.before_first_reading is not None:
                check_before_first_reading(self.before_first_reading)
            if self.peer_ids is not None:
                check_peer_ids(self.peer_ids)
        except ProfileError as exc:
            raise ValueError(str(exc)) from None
        if self.profile_file is not None and not self.profile_file.strip():
            raise ValueError("profile_file must not be empty (leave it out to use `profile`)")
        if (
            self.force_charge_soc_pct is not None
            and self.force_charge_release_soc_pct <= self.force_charge_soc_pct
        ):
            raise ValueError(
                f"force_charge_release_soc_pct = {self.force_charge_release_soc_pct:g} must be above "
                f"force_charge_soc_pct = {self.force_charge_soc_pct:g}"
            )
        if not self.channel:
            raise ValueError("channel must not be empty")
        reserved = {"interface", "channel", "bitrate"} & set(self.bus_options)
        if reserved:
            raise ValueError(
                f"bus_options must not set {', '.join(sorted(reserved))}; use the key of the same name"
            )
