"""The sink's own DBC layout reader against cantools: same layouts, same bytes, clear refusals."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pylontech_can.dbc import VARIANTS, load_database
from pylontech_can.layout import DbcLayoutError, FrameLayout, frame_layouts, parse_layouts

VARIANT_NAMES = [None, *VARIANTS]
#: (variant, frame id) of every frame of every file.
ALL_FRAMES = [(variant, frame_id) for variant in VARIANT_NAMES for frame_id in frame_layouts(variant)]


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_every_frame_reads_as_cantools_reads_it(variant: str | None) -> None:
    database = load_database(variant)
    layouts = frame_layouts(variant)
    assert sorted(layouts) == sorted(message.frame_id for message in database.messages)
    for message in database.messages:
        layout = layouts[message.frame_id]
        assert (layout.name, layout.length) == (message.name, message.length)
        theirs_by_name = {s.name: s for s in message.signals}  # cantools sorts them by start bit
        assert sorted(s.name for s in layout.signals) == sorted(theirs_by_name)
        for ours in layout.signals:
            theirs = theirs_by_name[ours.name]
            assert theirs.byte_order == "little_endian" and not theirs.is_multiplexer
            assert (ours.start_bit, ours.length) == (theirs.start, theirs.length)
            assert ours.signed == theirs.is_signed
            assert (ours.scale, ours.offset) == (theirs.scale, theirs.offset)
            assert type(ours.scale) is type(theirs.scale) and type(ours.offset) is type(theirs.offset)
            assert (ours.minimum, ours.maximum) == (theirs.minimum, theirs.maximum)
            assert ours.unit == (theirs.unit or "")


def _value(signal_minimum: float, signal_maximum: float, length: int) -> st.SearchStrategy[float]:
    whole = st.integers(math.ceil(signal_minimum), math.floor(signal_maximum))
    if length > 52:  # beyond a float's mantissa: only exact integers are meaningful
        return whole
    return whole | st.floats(signal_minimum, signal_maximum, allow_nan=False)


@st.composite
def frame_and_values(draw: st.DrawFn) -> tuple[str | None, FrameLayout, dict[str, float]]:
    variant, frame_id = draw(st.sampled_from(ALL_FRAMES))
    layout = frame_layouts(variant)[frame_id]
    values = {s.name: draw(_value(s.minimum, s.maximum, s.length)) for s in layout.signals}
    return variant, layout, values


@settings(max_examples=600, deadline=None)
@given(frame_and_values())
def test_packs_every_in_range_value_as_cantools_encodes_it(
    case: tuple[str | None, FrameLayout, dict[str, float]],
) -> None:
    variant, layout, values = case
    message = load_database(variant).get_message_by_frame_id(layout.frame_id)
    assert layout.pack(values) == bytes(message.encode(values, scaling=True, padding=False, strict=True))


@pytest.mark.parametrize(
    ("frame_id", "name", "value", "expected"),
    [
        (0x355, "soc", 50.5, 50),  # half to even, as cantools rounds
        (0x355, "soc", 51.5, 52),
        (0x356, "current", -0.69, -7),
        (0x356, "current", 3276.7, 32767),
        (0x356, "voltage", 51.21, 5121),
        (0x351, "charge_voltage_limit", 55.2, 552),
    ],
)
def test_rounds_as_cantools_does(frame_id: int, name: str, value: float, expected: int) -> None:
    ours = next(s for s in frame_layouts()[frame_id].signals if s.name == name)
    theirs = load_database().get_message_by_frame_id(frame_id).get_signal_by_name(name)
    assert ours.to_raw(value) == expected == theirs.conversion.numeric_scaled_to_raw(value)


def test_a_kelvin_offset_signal_packs_through_the_integer_path() -> None:
    layout = frame_layouts()[0x373]
    kelvin = [s for s in layout.signals if s.offset == -273]
    assert kelvin and isinstance(kelvin[0].scale, int)
    values = {s.name: max(s.minimum, 0) for s in layout.signals} | {kelvin[0].name: 25}
    message = load_database().get_message_by_frame_id(0x373)
    assert layout.pack(values) == bytes(message.encode(values, scaling=True, padding=False, strict=True))
    assert kelvin[0].to_raw(25) == 298


def test_refuses_nan_and_a_raw_value_that_does_not_fit() -> None:
    layout = frame_layouts()[0x351]
    values = {s.name: 0.0 for s in layout.signals}
    with pytest.raises(ValueError, match="NaN"):
        layout.pack(values | {"charge_current_limit": math.nan})
    with pytest.raises(ValueError, match=r"BatteryLimits\.charge_current_limit: raw 40000 does not fit 16"):
        layout.pack(values | {"charge_current_limit": 4000.0})


def test_refuses_a_signal_without_a_value() -> None:
    with pytest.raises(KeyError, match="soh"):
        frame_layouts()[0x355].pack({"soc": 50})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (' SG_ big : 7|16@0+ (1,0) [0|1] "" Inverter', "line 3: big-endian signal big is not supported"),
        (' SG_ mux M : 0|8@1+ (1,0) [0|1] "" Inverter', "line 3: not a plain signal of a frame"),
        (' SG_ m0sig m0 : 0|8@1+ (1,0) [0|1] "" Inverter', "line 3: not a plain signal of a frame"),
        (' SG_ long : 8|64@1+ (1,0) [0|1] "" Inverter', "line 3: long ends past the frame's 8 bytes"),
        (' SG_ broken : 0|8@1+ (1,0) "" Inverter', "line 3: not a plain signal of a frame"),
    ],
)
def test_refuses_what_it_does_not_read_naming_the_line(line: str, message: str) -> None:
    text = f'VERSION ""\n\nBO_ 849 Limits: 8 Battery\n{line}\n'.replace("\n\nBO_", "\nBO_")
    with pytest.raises(DbcLayoutError, match=re.escape(message)):
        parse_layouts(text)


def test_refuses_a_signal_outside_any_frame() -> None:
    signal = ' SG_ {} : {}|8@1+ (1,0) [0|1] "" Inverter'
    text = "\n".join(
        ["BO_ 849 Limits: 8 Battery", signal.format("a", 0), 'BA_ "x" 1;', signal.format("b", 8)]
    )
    with pytest.raises(DbcLayoutError, match="line 4: not a plain signal of a frame"):
        parse_layouts(text)


def test_a_run_of_the_sink_never_loads_cantools() -> None:
    """The sink builds and sends frame sets through the layouts alone (cantools: ~3 MiB of peak RSS)."""
    script = textwrap.dedent(
        """
        import logging, sys
        from gateway_core.clock import MonotonicClock
        from gateway_core.model import BatteryReading, LimitFlag, Limits
        from gateway_core.roles import PluginContext
        from pylontech_can.config import PylontechConfig
        from pylontech_can.sink import PylontechSink
        clock = MonotonicClock()
        reading = BatteryReading(
            source_id="jk", taken_at_s=clock.now(), voltage_v=51.2, current_a=-3.0, soc_pct=60.0,
            cell_voltages_v=(3.2,) * 16, temperatures_c=(20.0, 21.0), bms_temperature_c=25.0,
        )
        for profile in ("generic", "victron", "luxpower", "deye"):
            config = PylontechConfig(interface="virtual", channel="no-cantools", profile=profile)
            sink = PylontechSink(config, PluginContext("pylontech", clock, logging.getLogger("t")))
            sink.open()
            limits = Limits(30.0, 50.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("test",))
            report = sink.publish(reading, limits)
            assert report.frames_sent, report
            sink.close()
        print("cantools" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
