"""Decode a JK02 cell-info record (frame type 0x02, 24S or 32S layout) into a frozen :class:`CellInfo`.

Pure: record bytes in, dataclass out, so a Bluetooth source can reuse it unchanged. Values are
little-endian; temperatures are s16 in 0.1 °C where -2000 means "no probe". Framing is checked by
:func:`jk_pb.records.parse_record`; this module refuses content that cannot be physical with
:class:`~gateway_core.errors.ImplausibleReply` (a mask with gaps, a cell slot outside the mask that
reads a voltage, SOC above 100 %, a pack voltage far from its cells' sum, ...), which is also what a
record read with the wrong layout runs into.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway_core.errors import ImplausibleReply

from .layout import JK02, PRESENCE_BITS, Jk02Layout
from .records import CELL_INFO, Record

ABSENT_RAW = -2000  # a probe that is not fitted
MAX_CELL_MV = 5000
MIN_TEMPERATURE_C, MAX_TEMPERATURE_C = -60.0, 150.0
MAX_CURRENT_A = 5000.0
EXTRA_BITS = (PRESENCE_BITS["t3"], PRESENCE_BITS["t4"])
#: The pack voltage may differ from the sum of its cells by this share (or 1 V) before it is impossible.
PACK_TOLERANCE = 0.10

#: Alarm bit -> name (esphome ERRORS_JK02, JK's Modbus V1.1 register 0x12A0). Bit 4 is "cell OVP" in
#: JK's document and "battery fully charged" in esphome; the pack's charge MOSFET is off either way.
ALARM_NAMES = {
    0: "wire_resistance", 1: "mosfet_overtemperature", 2: "cell_count_mismatch",
    3: "current_sensor_anomaly", 4: "cell_overvoltage", 5: "pack_overvoltage",
    6: "charge_overcurrent", 7: "charge_short_circuit", 8: "charge_overtemperature",
    9: "charge_undertemperature", 10: "coprocessor_communication", 11: "cell_undervoltage",
    12: "pack_undervoltage", 13: "discharge_overcurrent", 14: "discharge_short_circuit",
    15: "discharge_overtemperature", 16: "charge_mosfet_abnormal", 17: "discharge_mosfet_abnormal",
    18: "gps_disconnected", 19: "modify_password_in_time", 20: "discharge_on_failed",
    21: "battery_overtemperature", 22: "temperature_sensor_anomaly", 23: "pl_module_anomaly",
    24: "scp_release_failed", 25: "discharge_ocp_2", 26: "discharge_ocp_3",
    27: "discharge_undertemperature", 28: "gps_remote_lock",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CellInfo:
    """One JK02 cell-info record, in SI units. ``None``: not in this layout, or the probe is absent."""

    layout: str
    counter: int
    cell_mask: int
    cell_voltages_v: tuple[float, ...]
    wire_resistances_ohm: tuple[float, ...]
    average_cell_v: float
    delta_cell_v: float
    max_cell_number: int
    min_cell_number: int
    voltage_v: float
    current_a: float
    soc_pct: int
    soh_pct: int
    remaining_capacity_ah: float
    capacity_ah: float
    cycle_count: int
    cycle_capacity_ah: float
    runtime_s: int
    mosfet_temperature_c: float | None
    t1_temperature_c: float | None
    t2_temperature_c: float | None
    mosfet2_temperature_c: float | None
    extra_temperatures_c: tuple[float | None, ...]
    alarm_bits: int
    wire_alarm_mask: int
    balance_current_a: float
    balancing_action: int
    charge_enabled: bool
    discharge_enabled: bool
    precharge_enabled: bool | None
    heating: bool | None
    temperature_presence: int | None

    @property
    def cell_count(self) -> int:
        """Cells in series (set bits of the enabled-cell mask)."""
        return len(self.cell_voltages_v)

    @property
    def balancing(self) -> bool:
        """True while the balancer works (action 1: charge balancing, 2: discharge balancing)."""
        return self.balancing_action != 0

    @property
    def alarms(self) -> tuple[str, ...]:
        """Names of the alarm bits set (``bit_N`` for bits without a known meaning)."""
        return tuple(ALARM_NAMES.get(bit, f"bit_{bit}") for bit in range(32) if self.alarm_bits >> bit & 1)

    @property
    def battery_temperatures_c(self) -> tuple[float, ...]:
        """The battery probes that are fitted: T1, T2, then the extra probes (32S)."""
        probes = (self.t1_temperature_c, self.t2_temperature_c, *self.extra_temperatures_c)
        return tuple(t for t in probes if t is not None)

    @property
    def zero_voltage_cells(self) -> tuple[int, ...]:
        """1-based numbers of enabled cells reading 0 mV (a broken sense wire)."""
        return tuple(n for n, v in enumerate(self.cell_voltages_v, start=1) if v == 0)


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def u8(self, at: int) -> int:
        return self.raw[at]

    def u16(self, at: int) -> int:
        return int(struct.unpack_from("<H", self.raw, at)[0])

    def s16(self, at: int) -> int:
        return int(struct.unpack_from("<h", self.raw, at)[0])

    def u32(self, at: int) -> int:
        return int(struct.unpack_from("<I", self.raw, at)[0])

    def s32(self, at: int) -> int:
        return int(struct.unpack_from("<i", self.raw, at)[0])


def decode_cell_info(record: Record, layout: str) -> CellInfo:
    """Decode a cell-info ``record`` read with ``layout`` (``"24s"`` or ``"32s"``).

    :raises ImplausibleReply: the content cannot be physical (or the layout is the wrong one).
    :raises ValueError: ``record`` is no cell-info record, or ``layout`` is unknown.
    """
    if record.frame_type != CELL_INFO:
        raise ValueError(f"a {record.kind} record is no cell-info record")
    at = JK02[layout]
    r = _Reader(record.raw)
    mask = r.u32(at.cell_mask)
    slots = [r.u16(6 + 2 * i) for i in range(at.cell_slots)]
    count = _cell_count(mask, at)
    for index, mv in enumerate(slots):
        if index >= count and mv:
            raise ImplausibleReply(
                f"cell slot {index + 1} reads {mv} mV outside the enabled-cell mask 0x{mask:X} "
                f"({layout} layout: is it the right one?)"
            )
        if mv > MAX_CELL_MV:
            raise ImplausibleReply(f"cell {index + 1} reads {mv} mV (above {MAX_CELL_MV} mV)")
    cells = tuple(mv / 1000 for mv in slots[:count])
    presence = r.u8(at.temperature_presence) if at.temperature_presence is not None else None
    info = CellInfo(
        layout=layout,
        counter=record.counter,
        cell_mask=mask,
        cell_voltages_v=cells,
        wire_resistances_ohm=tuple(r.u16(at.wire_resistance + 2 * i) / 1000 for i in range(count)),
        average_cell_v=r.u16(at.average_cell) / 1000,
        delta_cell_v=r.u16(at.delta_cell) / 1000,
        max_cell_number=r.u8(at.max_cell_index) + 1,
        min_cell_number=r.u8(at.min_cell_index) + 1,
        voltage_v=r.u32(at.voltage) / 1000,
        current_a=r.s32(at.current) / 1000,
        soc_pct=r.u8(at.soc),
        soh_pct=r.u8(at.soh),
        remaining_capacity_ah=r.u32(at.remaining_capacity) / 1000,
        capacity_ah=r.u32(at.full_capacity) / 1000,
        cycle_count=r.u32(at.cycles),
        cycle_capacity_ah=r.u32(at.cycle_capacity) / 1000,
        runtime_s=r.u32(at.runtime),
        mosfet_temperature_c=_probe(r, at.mosfet_temperature, presence, PRESENCE_BITS["mosfet"]),
        t1_temperature_c=_probe(r, at.t1, presence, PRESENCE_BITS["t1"]),
        t2_temperature_c=_probe(r, at.t2, presence, PRESENCE_BITS["t2"]),
        mosfet2_temperature_c=_probe(r, at.mosfet2_temperature, presence, PRESENCE_BITS["mosfet2"]),
        extra_temperatures_c=tuple(
            _probe(r, offset, presence, bit, zero_is_absent=True)
            for offset, bit in zip(at.extra_temperatures, EXTRA_BITS, strict=False)
        ),
        alarm_bits=r.u32(at.alarm_bits) if at.alarm_width == 4 else r.u16(at.alarm_bits),
        wire_alarm_mask=r.u32(at.wire_alarm_mask),
        balance_current_a=r.s16(at.balance_current) / 1000,
        balancing_action=r.u8(at.balancing_action),
        charge_enabled=_switch(r, at.charge_mosfet, "charge MOSFET"),
        discharge_enabled=_switch(r, at.discharge_mosfet, "discharge MOSFET"),
        precharge_enabled=None
        if at.precharge_mosfet is None
        else _switch(r, at.precharge_mosfet, "precharge"),
        heating=None if at.heating is None else r.u8(at.heating) != 0,
        temperature_presence=presence,
    )
    _check(info)
    return info


def _cell_count(mask: int, at: Jk02Layout) -> int:
    if mask == 0:
        raise ImplausibleReply(f"enabled-cell mask is 0: no cells ({at.name} layout)")
    count = mask.bit_count()
    if mask != (1 << count) - 1 or count > at.cell_slots:
        raise ImplausibleReply(
            f"enabled-cell mask 0x{mask:X} is not cells 1..N of {at.cell_slots} ({at.name} layout: is it "
            "the right one?)"
        )
    return count


def _probe(
    r: _Reader, offset: int | None, presence: int | None, bit: int, *, zero_is_absent: bool = False
) -> float | None:
    """A temperature in °C, or ``None`` when the layout lacks it or the probe is not fitted.

    Firmware 11 fills the extra-probe slots with 0 and still flags them present, so an extra probe
    reading exactly 0 counts as absent (``zero_is_absent``).
    """
    if offset is None:
        return None
    raw = r.s16(offset)
    if (
        raw == ABSENT_RAW
        or (presence is not None and not presence >> bit & 1)
        or (zero_is_absent and raw == 0)
    ):
        return None
    value = raw / 10
    if not MIN_TEMPERATURE_C <= value <= MAX_TEMPERATURE_C:
        raise ImplausibleReply(
            f"temperature {value:g} °C at byte {offset} is outside "
            f"{MIN_TEMPERATURE_C:g}..{MAX_TEMPERATURE_C:g} °C"
        )
    return value


def _switch(r: _Reader, offset: int, what: str) -> bool:
    value = r.u8(offset)
    if value > 1:
        raise ImplausibleReply(f"{what} state byte {offset} is 0x{value:02X}, not 0 (off) or 1 (on)")
    return value == 1


def _check(info: CellInfo) -> None:
    """Refuse what no battery reports; the engine's plausibility check comes on top of this."""
    if info.soc_pct > 100:
        raise ImplausibleReply(f"SOC {info.soc_pct} % is above 100 %")
    if info.soh_pct > 100:
        raise ImplausibleReply(f"SOH {info.soh_pct} % is above 100 %")
    if abs(info.current_a) > MAX_CURRENT_A:
        raise ImplausibleReply(f"current {info.current_a:g} A is beyond {MAX_CURRENT_A:g} A")
    if info.balancing_action > 2:
        raise ImplausibleReply(f"balancing action {info.balancing_action} is not 0, 1 or 2")
    if info.zero_voltage_cells:
        return  # a 0 mV cell is reported as an alarm, and the sum says nothing then
    total = sum(info.cell_voltages_v)
    if abs(info.voltage_v - total) > max(PACK_TOLERANCE * total, 1.0):
        raise ImplausibleReply(
            f"pack voltage {info.voltage_v:.3f} V but its {info.cell_count} cells sum to {total:.3f} V"
        )
