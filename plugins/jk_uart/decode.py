"""Decode the data section of a JK "4E 57" reply by walking its ids (never by fixed offsets).

Pure. :func:`walk` splits the data into ``{id: value bytes}`` using the width of every known id and
refuses an unknown id, a duplicate or a record running past the end; :func:`decode_frame` turns the
records into a frozen :class:`JkStatus`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import COMMAND_READ_ALL, COMMAND_READ_ID, HEADER_SIZE, Frame, JkFrameError, JkImplausibleReply

CELLS = 0x79  # variable width: a length byte (3 x N), then N x {cell number u8, mV u16}
MIN_CELLS, MAX_CELLS = 3, 32

#: Every id of the protocol: (width in bytes, meaning). 0x79 is variable and handled apart.
ID_TABLE: dict[int, tuple[int, str]] = {
    0x80: (2, "MOSFET temperature"), 0x81: (2, "probe T1 temperature"), 0x82: (2, "probe T2 temperature"),
    0x83: (2, "pack voltage"), 0x84: (2, "current"), 0x85: (1, "SOC"), 0x86: (1, "temperature sensor count"),
    0x87: (2, "cycle count"), 0x89: (4, "total cycle capacity"), 0x8A: (2, "cell strings"),
    0x8B: (2, "alarm word"), 0x8C: (2, "status word"), 0x8E: (2, "pack OVP"), 0x8F: (2, "pack UVP"),
    0x90: (2, "cell OVP"), 0x91: (2, "cell OVP recovery"), 0x92: (2, "cell OVP delay"),
    0x93: (2, "cell UVP"), 0x94: (2, "cell UVP recovery"), 0x95: (2, "cell UVP delay"),
    0x96: (2, "cell difference protection"), 0x97: (2, "discharge OCP"), 0x98: (2, "discharge OCP delay"),
    0x99: (2, "charge OCP"), 0x9A: (2, "charge OCP delay"), 0x9B: (2, "balance start voltage"),
    0x9C: (2, "balance trigger difference"), 0x9D: (1, "balance switch"), 0x9E: (2, "MOSFET OTP"),
    0x9F: (2, "MOSFET OTP recovery"), 0xA0: (2, "box OTP"), 0xA1: (2, "box OTP recovery"),
    0xA2: (2, "probe difference"), 0xA3: (2, "charge OTP"), 0xA4: (2, "discharge OTP"),
    0xA5: (2, "charge low-temperature protection"), 0xA6: (2, "charge low-temperature recovery"),
    0xA7: (2, "discharge low-temperature protection"), 0xA8: (2, "discharge low-temperature recovery"),
    0xA9: (1, "cell count setting"), 0xAA: (4, "capacity setting"), 0xAB: (1, "charge MOSFET switch"),
    0xAC: (1, "discharge MOSFET switch"), 0xAD: (2, "current calibration"), 0xAE: (1, "board address"),
    0xAF: (1, "battery type"), 0xB0: (2, "sleep time"), 0xB1: (1, "low-capacity alarm"),
    0xB2: (10, "password"), 0xB3: (1, "charger switch"), 0xB4: (8, "device id"), 0xB5: (4, "production date"),
    0xB6: (4, "run time"), 0xB7: (15, "software version"), 0xB8: (1, "start calibration"),
    0xB9: (4, "actual capacity"), 0xBA: (24, "manufacturer id"), 0xBB: (1, "restart"), 0xBC: (1, "reset"),
    0xBD: (1, "upgrade"), 0xBE: (2, "GPS cut-off"), 0xBF: (2, "GPS recovery"), 0xC0: (1, "protocol version"),
}  # fmt: skip

REQUIRED_IDS = (CELLS, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85)

#: ``JkFrameError.reason`` values the decoder raises; ``implausible`` is a :class:`JkImplausibleReply`
#: (valid framing and checksum, impossible content), the others are structural.
DECODE_REASONS = (
    "unknown_id", "truncated_record", "duplicate_id", "missing_id", "implausible", "request", "command",
)  # fmt: skip

#: 0x8B alarm bits (bit 0 = LSB) and their names.
ALARM_NAMES = (
    "low_capacity", "mosfet_overtemperature", "pack_overvoltage", "pack_undervoltage",
    "battery_overtemperature", "charge_overcurrent", "discharge_overcurrent", "cell_imbalance",
    "box_overtemperature", "battery_undertemperature", "cell_overvoltage", "cell_undervoltage",
    "fault_309_a", "fault_309_b", "reserved_14", "reserved_15",
)  # fmt: skip


def id_name(data_id: int) -> str:
    """Human name of a data id (``cells`` for 0x79)."""
    return "cells" if data_id == CELLS else ID_TABLE.get(data_id, (0, "unknown"))[1]


@dataclass(frozen=True, slots=True)
class JkStatus:
    """Everything a JK reply says that the gateway uses, in SI-ish units (V, A, °C, %, Ah).

    ``current_a`` is positive while charging. Settings absent from old firmware are ``None``.
    ``protocol_version`` is 0xC0 (``None`` when absent; then the old offset current encoding applies).
    """

    cell_voltages_v: tuple[float, ...]
    voltage_v: float
    current_a: float
    soc_pct: int
    mosfet_temperature_c: float
    t1_temperature_c: float
    t2_temperature_c: float
    cycle_count: int | None = None
    total_cycle_capacity_ah: int | None = None
    capacity_ah: int | None = None
    actual_capacity_ah: int | None = None
    alarm_word: int = 0
    status_word: int = 0
    pack_ovp_v: float | None = None
    pack_uvp_v: float | None = None
    cell_ovp_v: float | None = None
    cell_ovp_recovery_v: float | None = None
    cell_uvp_v: float | None = None
    cell_uvp_recovery_v: float | None = None
    cell_difference_protection_v: float | None = None
    discharge_ocp_a: int | None = None
    charge_ocp_a: int | None = None
    balance_start_v: float | None = None
    balance_trigger_v: float | None = None
    software_version: str | None = None
    device_id: str | None = None
    manufacturer_id: str | None = None
    production_date: str | None = None
    protocol_version: int | None = None

    @property
    def cell_count(self) -> int:
        """Number of cells in series."""
        return len(self.cell_voltages_v)

    @property
    def zero_voltage_cells(self) -> tuple[int, ...]:
        """1-based numbers of cells reading 0 mV (disconnected sense wire or dead cell)."""
        return tuple(n for n, v in enumerate(self.cell_voltages_v, start=1) if v == 0.0)

    @property
    def alarms(self) -> tuple[str, ...]:
        """Names of the set bits of the alarm word 0x8B."""
        return tuple(name for bit, name in enumerate(ALARM_NAMES) if self.alarm_word >> bit & 1)

    @property
    def charge_mosfet_on(self) -> bool:
        """0x8C bit 0: the charge MOSFET conducts."""
        return bool(self.status_word & 0x01)

    @property
    def discharge_mosfet_on(self) -> bool:
        """0x8C bit 1: the discharge MOSFET conducts."""
        return bool(self.status_word & 0x02)

    @property
    def balancing(self) -> bool:
        """0x8C bit 2: the balancer is active."""
        return bool(self.status_word & 0x04)

    @property
    def current_encoding(self) -> str:
        """``"v1"`` (sign-magnitude, 0xC0 = 1) or ``"v0"`` (offset 10000)."""
        return "v1" if self.protocol_version == 1 else "v0"

    @property
    def serial_number(self) -> str | None:
        """The manufacturer id (0xBA) when present, else the device id (0xB4, old firmware)."""
        return self.manufacturer_id or self.device_id


def walk(data: bytes) -> dict[int, bytes]:
    """Split a reply's data section into ``{id: value}``; must end exactly at the record number.

    :raises JkFrameError: unknown id, duplicate id, or a record longer than what remains.
    """
    records: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        data_id = data[offset]
        at = f"at frame offset {offset + HEADER_SIZE}"
        if data_id == CELLS:
            if offset + 1 >= len(data):
                raise JkFrameError("truncated_record", f"id 0x79 (cells) {at} has no length byte")
            width = 1 + data[offset + 1]
        elif data_id in ID_TABLE:
            width = ID_TABLE[data_id][0]
        else:
            raise JkFrameError(
                "unknown_id", f"unknown data id 0x{data_id:02X} {at}; refusing to guess its width"
            )
        end = offset + 1 + width
        if end > len(data):
            raise JkFrameError(
                "truncated_record",
                f"id 0x{data_id:02X} ({id_name(data_id)}) {at} needs {width} bytes, "
                f"only {len(data) - offset - 1} remain before the record number",
            )
        if data_id in records:
            raise JkFrameError(
                "duplicate_id", f"id 0x{data_id:02X} ({id_name(data_id)}) appears twice ({at})"
            )
        records[data_id] = data[offset + 1 : end]
        offset = end
    return records


def decode_temperature(raw: int) -> float:
    """0x80-0x82: 0..99 -> °C, 100 -> 0 °C, 101..140 -> 100 - raw (-1 .. -40 °C)."""
    if raw > 140:
        raise JkImplausibleReply(f"temperature code {raw} outside 0..140")
    return float(raw if raw < 100 else 100 - raw)


def decode_current(raw: int, protocol_version: int | None) -> float:
    """0x84 in amps, + = charging: v1 (0xC0 = 1) sign-magnitude, else ``(10000 - raw) x 0.01``."""
    if protocol_version == 1:
        amps = (raw & 0x7FFF) * 0.01 * (1 if raw & 0x8000 else -1)
    elif protocol_version in (None, 0):
        amps = (10000 - raw) * 0.01
    else:
        raise JkImplausibleReply(
            f"protocol version 0x{protocol_version:02X} unknown: cannot tell the current encoding"
        )
    return round(amps, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def decode_cells(value: bytes) -> tuple[float, ...]:
    """The 0x79 record (length byte included) -> cell voltages, checking numbers run 1..N."""
    size = value[0]
    if size % 3 or not MIN_CELLS <= size // 3 <= MAX_CELLS:
        raise JkImplausibleReply(f"cell record length {size} is not 3 x N with N in {MIN_CELLS}..{MAX_CELLS}")
    volts = []
    for index in range(size // 3):
        number = value[1 + 3 * index]
        if number != index + 1:
            raise JkImplausibleReply(f"cell record {index + 1} is numbered {number}")
        volts.append(int.from_bytes(value[2 + 3 * index : 4 + 3 * index], "big") / 1000)
    return tuple(volts)


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.replace(b"\x00", b"").decode("ascii", errors="replace").strip()


def decode_records(records: dict[int, bytes]) -> JkStatus:
    """Build a :class:`JkStatus` from walked records. :raises JkFrameError: missing or inconsistent."""
    for data_id in REQUIRED_IDS:
        if data_id not in records:
            raise JkFrameError("missing_id", f"reply lacks id 0x{data_id:02X} ({id_name(data_id)})")

    def u(data_id: int) -> int | None:
        value = records.get(data_id)
        return None if value is None else int.from_bytes(value, "big")

    def scaled(data_id: int, scale: float) -> float | None:
        raw = u(data_id)
        return None if raw is None else round(raw * scale, 3)

    cells = decode_cells(records[CELLS])
    for data_id in (0x8A, 0xA9):
        count = u(data_id)
        if count is not None and count != len(cells):
            raise JkImplausibleReply(
                f"id 0x{data_id:02X} ({id_name(data_id)}) says {count} cells, 0x79 holds {len(cells)}"
            )
    protocol_version = u(0xC0)
    soc = u(0x85) or 0
    if soc > 100:
        raise JkImplausibleReply(f"SOC {soc} % above 100")
    return JkStatus(
        cell_voltages_v=cells,
        voltage_v=round((u(0x83) or 0) * 0.01, 2),
        current_a=decode_current(u(0x84) or 0, protocol_version),
        soc_pct=soc,
        mosfet_temperature_c=decode_temperature(u(0x80) or 0),
        t1_temperature_c=decode_temperature(u(0x81) or 0),
        t2_temperature_c=decode_temperature(u(0x82) or 0),
        cycle_count=u(0x87),
        total_cycle_capacity_ah=u(0x89),
        capacity_ah=u(0xAA),
        actual_capacity_ah=u(0xB9),
        alarm_word=u(0x8B) or 0,
        status_word=u(0x8C) or 0,
        pack_ovp_v=scaled(0x8E, 0.01),
        pack_uvp_v=scaled(0x8F, 0.01),
        cell_ovp_v=scaled(0x90, 0.001),
        cell_ovp_recovery_v=scaled(0x91, 0.001),
        cell_uvp_v=scaled(0x93, 0.001),
        cell_uvp_recovery_v=scaled(0x94, 0.001),
        cell_difference_protection_v=scaled(0x96, 0.001),
        discharge_ocp_a=u(0x97),
        charge_ocp_a=u(0x99),
        balance_start_v=scaled(0x9B, 0.001),
        balance_trigger_v=scaled(0x9C, 0.001),
        software_version=_text(records.get(0xB7)),
        device_id=_text(records.get(0xB4)),
        manufacturer_id=_text(records.get(0xBA)),
        production_date=_text(records.get(0xB5)),
        protocol_version=protocol_version,
    )


def decode_frame(frame: Frame) -> JkStatus:
    """Decode a parsed reply frame. :raises JkFrameError: not a read reply, or bad data section."""
    if frame.is_request:
        raise JkFrameError("request", "frame is a request (transport 00), not a reply")
    if frame.command not in (COMMAND_READ_ALL, COMMAND_READ_ID):
        raise JkFrameError("command", f"command 0x{frame.command:02X} is not a read reply (03 or 06)")
    return decode_records(walk(frame.data))
