"""The fields of each Daly reply id (0x90-0x94, 0x98), decoded from its 8 data bytes.

Pure. Offsets are within the data bytes, multi-byte values big-endian. Reserved bytes carry stale
data from earlier replies on real units and are never read. A value outside what the field can hold
(SOC above 100 %, a state byte outside 0-2, a cell count of 0) raises
:class:`~gateway_core.errors.ImplausibleReply`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.errors import ImplausibleReply

CURRENT_OFFSET = 30000  # raw 0x90 current = 30000 + 10 x amps; above 30000 = discharging (majority)
TEMPERATURE_OFFSET = 40
MAX_CELLS = 48  # 16 frames x 3
MAX_PROBES = 21  # 3 frames x 7
CELLS_PER_FRAME, PROBES_PER_FRAME = 3, 7
PADDING_PROBE_BYTES = (0x00, 0xFF)  # what unused 0x96 slots read
STATES = {0: "stationary", 1: "charging", 2: "discharging"}

#: 0x98 failure bits, bit 0 = LSB of data byte 0 ... (byte 7 is a fault code, decoded apart).
FAILURE_NAMES = (
    # byte 0: voltages
    "cell_voltage_high_l1", "cell_voltage_high_l2", "cell_voltage_low_l1", "cell_voltage_low_l2",
    "pack_voltage_high_l1", "pack_voltage_high_l2", "pack_voltage_low_l1", "pack_voltage_low_l2",
    # byte 1: temperatures
    "charge_temperature_high_l1", "charge_temperature_high_l2", "charge_temperature_low_l1",
    "charge_temperature_low_l2", "discharge_temperature_high_l1", "discharge_temperature_high_l2",
    "discharge_temperature_low_l1", "discharge_temperature_low_l2",
    # byte 2: currents and SOC
    "charge_overcurrent_l1", "charge_overcurrent_l2", "discharge_overcurrent_l1", "discharge_overcurrent_l2",
    "soc_high_l1", "soc_high_l2", "soc_low_l1", "soc_low_l2",
    # byte 3: differences
    "cell_voltage_difference_l1", "cell_voltage_difference_l2", "temperature_difference_l1",
    "temperature_difference_l2", "reserved_3_4", "reserved_3_5", "reserved_3_6", "reserved_3_7",
    # byte 4: MOSFETs
    "charge_mosfet_overtemperature", "discharge_mosfet_overtemperature", "charge_mosfet_sensor_fault",
    "discharge_mosfet_sensor_fault", "charge_mosfet_adhesion", "discharge_mosfet_adhesion",
    "charge_mosfet_open_circuit", "discharge_mosfet_open_circuit",
    # byte 5: the BMS itself
    "afe_chip_fault", "cell_voltage_collection_lost", "cell_temperature_sensor_fault", "eeprom_fault",
    "rtc_fault", "precharge_failure", "vehicle_communication_fault", "internal_communication_fault",
    # byte 6
    "current_module_fault", "pack_voltage_detection_fault", "short_circuit_protection",
    "low_voltage_no_charging", "reserved_6_4", "reserved_6_5", "reserved_6_6", "reserved_6_7",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PackValues:
    """0x90: cumulative pack voltage, gathered voltage (often 0), raw current, SOC."""

    voltage_v: float
    gathered_voltage_v: float
    current_raw: int
    soc_pct: float

    @property
    def current_a(self) -> float:
        """Amps, + = charging, by the majority reading (raw above 30000 means discharging)."""
        return (CURRENT_OFFSET - self.current_raw) / 10 + 0.0


@dataclass(frozen=True, slots=True)
class CellExtremes:
    """0x91: the highest and the lowest cell (1-based numbers)."""

    max_cell_v: float
    max_cell_number: int
    min_cell_v: float
    min_cell_number: int


@dataclass(frozen=True, slots=True)
class TemperatureExtremes:
    """0x92: the hottest and the coldest probe (1-based numbers)."""

    max_temperature_c: float
    max_probe: int
    min_temperature_c: float
    min_probe: int


@dataclass(frozen=True, slots=True)
class MosfetState:
    """0x93: charge/discharge state, the two MOSFETs, "BMS life" counter, remaining capacity."""

    state: str
    charge_mosfet_on: bool
    discharge_mosfet_on: bool
    bms_life: int
    remaining_capacity_ah: float


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """0x94: cell and probe counts, charger and load present, DI/DO bits, cycles."""

    cell_count: int
    probe_count: int
    charger_connected: bool
    load_connected: bool
    io_bits: int
    cycle_count: int


@dataclass(frozen=True, slots=True)
class Failures:
    """0x98: the failure bits that are set (by name, see :data:`FAILURE_NAMES`) and the fault code."""

    names: tuple[str, ...]
    fault_code: int


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def decode_pack(data: bytes) -> PackValues:
    """0x90 bytes 0-7. :raises ImplausibleReply: SOC above 100 %."""
    soc_raw = _u16(data, 6)
    if soc_raw > 1000:
        raise ImplausibleReply(f"0x90 says SOC {soc_raw / 10:g} %, above 100 %")
    return PackValues(_u16(data, 0) / 10, _u16(data, 2) / 10, _u16(data, 4), soc_raw / 10)


def decode_cell_extremes(data: bytes) -> CellExtremes:
    """0x91 bytes 0-5 (6-7 are stale). :raises ImplausibleReply: a cell number 0 or above 48."""
    extremes = CellExtremes(_u16(data, 0) / 1000, data[2], _u16(data, 3) / 1000, data[5])
    for number in (extremes.max_cell_number, extremes.min_cell_number):
        if not 1 <= number <= MAX_CELLS:
            raise ImplausibleReply(f"0x91 names cell {number} (cells are numbered 1..{MAX_CELLS})")
    return extremes


def decode_temperature_extremes(data: bytes) -> TemperatureExtremes:
    """0x92 bytes 0-3 (4-7 are stale). :raises ImplausibleReply: a probe number 0 or above 21."""
    extremes = TemperatureExtremes(
        float(data[0] - TEMPERATURE_OFFSET), data[1], float(data[2] - TEMPERATURE_OFFSET), data[3]
    )
    for number in (extremes.max_probe, extremes.min_probe):
        if not 1 <= number <= MAX_PROBES:
            raise ImplausibleReply(f"0x92 names probe {number} (probes are numbered 1..{MAX_PROBES})")
    return extremes


def decode_mosfets(data: bytes) -> MosfetState:
    """0x93 bytes 0-7. :raises ImplausibleReply: a state or MOSFET byte outside its values."""
    if data[0] not in STATES:
        raise ImplausibleReply(f"0x93 state byte {data[0]} (0 stationary, 1 charging, 2 discharging)")
    for name, value in (("charge", data[1]), ("discharge", data[2])):
        if value not in (0, 1):
            raise ImplausibleReply(f"0x93 {name} MOSFET byte {value} (0 off, 1 on)")
    remaining = int.from_bytes(data[4:8], "big") / 1000
    return MosfetState(STATES[data[0]], data[1] == 1, data[2] == 1, data[3], remaining)


def decode_status(data: bytes) -> StatusInfo:
    """0x94 bytes 0-6 (7 is stale). :raises ImplausibleReply: 0 or more than 48 cells, > 21 probes."""
    cells, probes = data[0], data[1]
    if not 1 <= cells <= MAX_CELLS:
        raise ImplausibleReply(f"0x94 says {cells} cells (a Daly handles 1..{MAX_CELLS})")
    if probes > MAX_PROBES:
        raise ImplausibleReply(f"0x94 says {probes} temperature probes (at most {MAX_PROBES})")
    return StatusInfo(cells, probes, data[2] != 0, data[3] != 0, data[4], _u16(data, 5))


def decode_failures(data: bytes) -> Failures:
    """0x98: bytes 0-6 are failure bits, byte 7 the fault code."""
    bits = int.from_bytes(data[:7], "little")
    names = tuple(name for bit, name in enumerate(FAILURE_NAMES) if bits >> bit & 1)
    return Failures(names, data[7])
