"""Real SMA Energy Meter datagrams decoded field by field, checked against fixed offsets read with struct.

Provenance: data/README.md. The struct path reads a 600-byte EM 1.0 datagram at the byte offsets
the FHEM module uses; the decoder walks tags and OBIS items: two independent paths agree.
"""

from __future__ import annotations

import struct

import pytest

from gateway_core.model import MeterReading
from sma_em.reading import to_json, to_meter_reading
from sma_em.speedwire import PROTOCOL_EM, decode, split_tags

from .helpers import DATAGRAMS

#: name -> what the datagram says, worked out by hand (data/README.md).
EXPECTED = {
    "em10_import_1054w": dict(
        susy_id=349, serial=1901429669, ticker_ms=1985149010, import_w=1054.6, export_w=0.0,
        phases=(344.3, 592.7, 117.6), energy_import_kwh=24.9821, energy_export_kwh=0.3617,
        firmware="2.0.18.R",
    ),
    "em10_idle": dict(
        susy_id=349, serial=1901429669, ticker_ms=3008530670, import_w=0.0, export_w=0.0,
        phases=(0.0, 0.0, 0.0), energy_import_kwh=0.5786, energy_export_kwh=0.0, firmware="2.0.18.R",
    ),
    "em_susy270_export_1743w": dict(
        susy_id=270, serial=1900243374, ticker_ms=3860374550, import_w=0.0, export_w=1742.9,
        phases=(-539.4, -678.5, -525.0), energy_import_kwh=39636.5034, energy_export_kwh=25602.1703,
        firmware="1.2.8.R",
    ),
}  # fmt: skip


def by_offsets(data: bytes) -> dict[str, object]:
    """The same fields read with struct at the fixed offsets of a 600-byte EM 1.0 datagram."""

    def u32(offset: int) -> int:
        return int(struct.unpack_from(">I", data, offset)[0])

    def u64(offset: int) -> int:
        return int(struct.unpack_from(">Q", data, offset)[0])

    phases = tuple(
        round((u32(imp) - u32(exp)) / 10, 1) + 0.0 for imp, exp in ((160, 180), (304, 324), (448, 468))
    )
    return dict(
        susy_id=struct.unpack_from(">H", data, 18)[0], serial=u32(20), ticker_ms=u32(24),
        import_w=u32(32) / 10, export_w=u32(52) / 10, phases=phases,
        energy_import_kwh=round(u64(40) / 3_600_000, 4), energy_export_kwh=round(u64(60) / 3_600_000, 4),
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_datagram_decodes_field_by_field(name):
    data = DATAGRAMS[name]
    datagram = decode(data)
    want = EXPECTED[name]
    got = {
        "susy_id": datagram.susy_id,
        "serial": datagram.serial,
        "ticker_ms": datagram.ticker_ms,
        "import_w": datagram.import_w,
        "export_w": datagram.export_w,
        "phases": tuple(p.power_w for p in datagram.phases),
        "energy_import_kwh": round(datagram.energy_import_kwh or 0, 4),
        "energy_export_kwh": round(datagram.energy_export_kwh or 0, 4),
        "firmware": datagram.firmware,
    }
    assert got == want
    assert datagram.grid_power_w == pytest.approx(want["import_w"] - want["export_w"])  # type: ignore[operator]
    assert datagram.frequency_hz is None  # an EM 1.0 does not send 0:14.4.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_struct_at_fixed_offsets_agrees_with_the_decoder(name):
    data = DATAGRAMS[name]
    assert len(data) == 600 and data[:4] == b"SMA\x00"
    assert struct.unpack_from(">HH", data, 12) == (580, 0x0010)
    assert struct.unpack_from(">H", data, 16)[0] == PROTOCOL_EM
    fields = by_offsets(data)
    want = {k: v for k, v in EXPECTED[name].items() if k != "firmware"}
    assert fields == want


def test_the_tags_of_a_real_datagram():
    tags = split_tags(DATAGRAMS["em10_import_1054w"])
    assert sorted(tags) == [0x0010, 0x02A0]
    assert tags[0x02A0] == b"\x00\x00\x00\x01"  # group 1
    assert len(tags[0x0010]) == 580


def test_the_meter_reading_is_signed_by_import_and_stamped_by_the_caller():
    reading = to_meter_reading(decode(DATAGRAMS["em_susy270_export_1743w"]), "sma_em:1900243374", 77.5)
    assert reading == MeterReading(
        meter_id="sma_em:1900243374",
        taken_at_s=77.5,
        grid_power_w=-1742.9,
        phase_powers_w=(-539.4, -678.5, -525.0),
        energy_import_kwh=39636.5034,
        energy_export_kwh=25602.1703,
    )


def test_the_json_has_the_documented_keys():
    out = to_json(decode(DATAGRAMS["em10_import_1054w"]))
    assert {
        "grid_power_w",
        "import_w",
        "export_w",
        "phases",
        "serial",
        "energy_import_kwh",
        "energy_export_kwh",
    } <= set(out)
    assert out["phases"]["l2"] == {"power_w": 592.7, "import_w": 592.7, "export_w": 0.0}
    assert out["grid_power_w"] == 1054.6 and out["serial"] == 1901429669
