"""The decoder refuses what is not an energy meter datagram, with a reason; hypothesis fuzzes it.

Also the encoder: what it writes decodes back to the same values, and it is checked against the
real datagrams' layout.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sma_em.encode import encode, obis_item, split_power
from sma_em.simulate import OscillatingPair, datagram, grid_datagram
from sma_em.speedwire import REASONS, SpeedwireError, decode

from .helpers import DATAGRAMS

REAL = DATAGRAMS["em10_import_1054w"]


def refused(data: bytes) -> SpeedwireError:
    with pytest.raises(SpeedwireError) as info:
        decode(data)
    assert info.value.reason in REASONS
    assert str(info.value) and "\n" not in str(info.value)
    return info.value


def with_data_length(data: bytes, length: int) -> bytes:
    return data[:12] + length.to_bytes(2, "big") + data[14:]


@pytest.mark.parametrize("cut", [0, 3, 4, 11, 12, 16, 27, 28, 100, 595, 596, 599])
def test_a_truncated_datagram_is_refused(cut):
    error = refused(REAL[:cut])
    assert error.reason in ("foreign", "truncated")


def test_every_prefix_of_a_real_datagram_is_refused():
    for cut in range(len(REAL)):
        refused(REAL[:cut])


@pytest.mark.parametrize(
    ("protocol", "text"), [(0x6065, "0x6065 (inverter)"), (0x6081, "0x6081 (unknown)"), (0x0000, "0x0000")]
)
def test_another_protocol_is_refused(protocol, text):
    data = REAL[:16] + protocol.to_bytes(2, "big") + REAL[18:]
    error = refused(data)
    assert error.reason == "protocol" and text in str(error)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "foreign"),
        (b"NW\x00\x13" + bytes(17), "foreign"),  # a JK frame
        (b"sma\x00" + REAL[4:], "foreign"),
        (bytes.fromhex("534d4100000402a0ffffffff0000002000000000"), "foreign"),  # a discovery request
        (bytes.fromhex("534d4100000402a000000001000200000001"), "truncated"),  # discovery reply, cut
        (bytes.fromhex("534d4100000402a000000001000200000001") + bytes(4), "foreign"),
        (REAL[:4] + REAL[12:], "foreign"),  # no group tag
    ],
)
def test_foreign_datagrams_are_refused(data, reason):
    assert refused(data).reason == reason


@pytest.mark.parametrize("delta", [-4, -1, 1, 4, 12])
def test_a_wrong_data_length_is_refused(delta):
    error = refused(with_data_length(REAL, 580 + delta))
    assert error.reason in ("length", "truncated", "obis")


def test_bytes_after_the_end_tag_are_refused():
    assert refused(REAL + b"\x00").reason == "length"
    assert refused(REAL + REAL).reason == "length"


def test_an_obis_item_of_unknown_width_is_refused():
    data = bytearray(REAL)
    data[30] = 7  # 0:1.4.0 becomes 0:1.7.0
    error = refused(bytes(data))
    assert error.reason == "obis" and "0:1.7.0" in str(error)


def test_a_duplicate_item_and_a_missing_total_are_refused():
    body = struct.pack(">HHII", 0x6069, 349, 1, 0)
    items = obis_item(1, 4, 10) + obis_item(1, 4, 20) + obis_item(2, 4, 0)

    def wrap(payload: bytes) -> bytes:
        return (
            b"SMA\x00\x00\x04\x02\xa0\x00\x00\x00\x01"
            + struct.pack(">HH", len(payload), 0x10)
            + payload
            + bytes(4)
        )

    assert refused(wrap(body + items)).reason == "duplicate"
    assert refused(wrap(body + obis_item(2, 4, 0))).reason == "missing"


def test_an_absurd_power_is_refused():
    assert refused(encode(1, 2_000_000.0, 0.0)).reason == "implausible"
    assert decode(encode(1, 1_000_000.0, 0.0)).import_w == 1_000_000.0


@given(data=st.binary(max_size=700))
def test_any_bytes_decode_or_are_refused_with_a_reason(data):
    try:
        decode(data)
    except SpeedwireError as exc:
        assert exc.reason in REASONS and "\n" not in str(exc)


@given(
    edits=st.lists(st.tuples(st.integers(0, 599), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.integers(0, 700),
)
def test_a_mutated_real_datagram_decodes_or_is_refused(edits, cut):
    data = bytearray(REAL)
    for position, value in edits:
        data[position] = value
    try:
        result = decode(bytes(data[:cut]))
    except SpeedwireError as exc:
        assert exc.reason in REASONS
        return
    assert 0 <= result.import_w <= 1_000_000 and 0 <= result.export_w <= 1_000_000


watts = st.floats(min_value=0.0, max_value=100_000.0, allow_nan=False).map(lambda w: round(w, 1))
kwh = st.integers(0, 2**50).map(lambda ws: ws / 3_600_000)


@given(
    serial=st.integers(0, 2**32 - 1),
    power=st.floats(min_value=-50_000, max_value=50_000, allow_nan=False).map(lambda w: round(w, 1)),
    phases=st.lists(st.floats(min_value=-20_000, max_value=20_000).map(lambda w: round(w, 1)), max_size=3),
    energy=st.tuples(kwh, kwh),
    ticker=st.integers(0, 2**32 - 1),
    frequency=st.none() | st.integers(45_000, 65_000).map(lambda mhz: mhz / 1000),
)
def test_what_the_encoder_writes_decodes_back(serial, power, phases, energy, ticker, frequency):
    imp, exp = split_power(power)
    raw = encode(
        serial, imp, exp, [split_power(p) for p in phases],
        energy_import_kwh=energy[0], energy_export_kwh=energy[1], ticker_ms=ticker, frequency_hz=frequency,
    )  # fmt: skip
    out = decode(raw)
    assert (out.serial, out.ticker_ms, out.grid_power_w) == (serial, ticker, power + 0.0)
    assert tuple(p.power_w for p in out.phases) == tuple(p + 0.0 for p in phases)
    assert out.energy_import_kwh == pytest.approx(energy[0], abs=1e-6)
    assert out.energy_export_kwh == pytest.approx(energy[1], abs=1e-6)
    assert out.frequency_hz == frequency


def test_the_encoder_writes_the_real_layout():
    mine = datagram(1901429669, 1054.6, 0.0, [344.3, 592.7, 117.6], ticker_ms=1985149010)
    assert mine[:12] == REAL[:12]  # signature, group tag
    assert mine[14:28] == REAL[14:28]  # data tag, protocol, SUSy id, serial, ticker
    assert mine[28:36] == REAL[28:36]  # 0:1.4.0 = 1054.6 W, byte for byte
    assert decode(mine).phases == decode(REAL).phases


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"serial": -1}, "serial"),
        ({"serial": 2**32}, "serial"),
        ({"import_w": -1.0}, ">= 0"),
        ({"phases": [(1.0, 0.0)] * 4}, "at most 3"),
    ],
)
def test_the_encoder_refuses_what_a_meter_cannot_send(kwargs, text):
    args = {"serial": 1, "import_w": 0.0, "export_w": 0.0, **kwargs}
    with pytest.raises(ValueError, match=text):
        encode(**args)


def test_the_oscillating_pair_swings_every_few_seconds():
    pair = OscillatingPair(amplitude_w=600.0, swing_s=3.0)
    values = [v for _, v in zip(range(12), pair, strict=False)]
    assert values == [600.0] * 3 + [-600.0] * 3 + [600.0] * 3 + [-600.0] * 3
    assert [decode(grid_datagram(v)).grid_power_w for v in values[2:5]] == [600.0, -600.0, -600.0]
    assert OscillatingPair(base_w=200.0).power_at(4.0) == -400.0
    with pytest.raises(ValueError):
        OscillatingPair(swing_s=0)
