"""Where each signal sits in each frame, read from the plugin's own DBC files, and packing values.

``gateway run`` needs only the layout of the frames it sends. This module reads it from the ``BO_``
and ``SG_`` lines of ``pylontech.dbc`` and its variants, and packs with integer arithmetic: loading
cantools and parsing the files with it cost a run about 100 ms of start-up and 3 MiB of peak RSS
(docs/benchmarks.md), and its encode took twice as long per frame. cantools still
decodes (``gateway pylontech decode``/``monitor``, the web page, the tests), and the tests check that
both read every frame of every file alike and encode it byte for byte alike.

Only what our files use is accepted: little-endian (Intel) integer signals, no multiplexing. Any
other ``SG_`` line is an error naming the line, never a silent misreading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from .dbc import VARIANTS, dbc_text


class DbcLayoutError(ValueError):
    """A DBC line this reader does not accept (big-endian, multiplexed, malformed, outside a frame)."""


@dataclass(frozen=True, slots=True)
class SignalLayout:
    """One signal: its bits, its scaling (physical = raw * scale + offset) and its range."""

    name: str
    start_bit: int
    length: int
    signed: bool
    scale: int | float
    offset: int | float
    minimum: int | float
    maximum: int | float
    unit: str

    def to_raw(self, value: float) -> int:
        """The raw integer for physical ``value``, rounded as cantools rounds (half to even)."""
        if self.scale == 1 and self.offset == 0:
            return round(value)
        if isinstance(self.scale, int) and isinstance(self.offset, int):
            quotient, remainder = divmod(value - self.offset, self.scale)
            return round(quotient if remainder == 0 else (value - self.offset) / self.scale)
        return round((value - self.offset) / self.scale)


@dataclass(frozen=True, slots=True)
class FrameLayout:
    """One frame: its id, name, payload length and signals in file order."""

    frame_id: int
    name: str
    length: int
    signals: tuple[SignalLayout, ...]

    def pack(self, values: Mapping[str, float]) -> bytes:
        """The payload for ``values`` (one per signal, already inside each signal's range).

        :raises KeyError: a signal has no value.
        :raises ValueError: a value is NaN, infinite, or its raw value does not fit its bits.
        """
        bits = 0
        for signal in self.signals:
            raw = signal.to_raw(values[signal.name])
            low = -(1 << (signal.length - 1)) if signal.signed else 0
            high = (1 << (signal.length - 1)) - 1 if signal.signed else (1 << signal.length) - 1
            if not low <= raw <= high:
                raise ValueError(f"{self.name}.{signal.name}: raw {raw} does not fit {signal.length} bits")
            bits |= (raw & ((1 << signal.length) - 1)) << signal.start_bit
        return bits.to_bytes(self.length, "little")


_FRAME = re.compile(r"BO_ (\d+) (\w+) *: *(\d+) +\w+")
_SIGNAL = re.compile(
    r"SG_ (\w+) *: *(\d+)\|(\d+)@([01])([+-]) *\(([^,()]+),([^,()]+)\) *\[([^|\]]+)\|([^|\]]+)\] *"
    r'"([^"]*)"'
)


def _number(text: str) -> int | float:
    """A DBC number as cantools reads it: an int when it is one, else a float."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_layouts(text: str) -> dict[int, FrameLayout]:
    """Frame id -> layout for every ``BO_`` of a DBC file's ``text``. :raises DbcLayoutError:"""
    frames: dict[int, FrameLayout] = {}
    current: tuple[int, str, int] | None = None
    signals: list[SignalLayout] = []

    def close() -> None:
        if current is not None:
            frames[current[0]] = FrameLayout(current[0], current[1], current[2], tuple(signals))

    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("BO_ "):
            close()
            match = _FRAME.fullmatch(stripped)
            if match is None:
                raise DbcLayoutError(f"line {number}: not a frame definition: {stripped!r}")
            current, signals = (int(match[1]), match[2], int(match[3])), []
        elif stripped.startswith("SG_ "):
            match = _SIGNAL.match(stripped)
            if match is None or current is None:
                raise DbcLayoutError(f"line {number}: not a plain signal of a frame: {stripped!r}")
            if match[4] != "1":
                raise DbcLayoutError(f"line {number}: big-endian signal {match[1]} is not supported")
            start, length = int(match[2]), int(match[3])
            if start + length > 8 * current[2]:
                raise DbcLayoutError(f"line {number}: {match[1]} ends past the frame's {current[2]} bytes")
            scale, offset, low, high = (_number(match[i]) for i in (6, 7, 8, 9))
            signals.append(
                SignalLayout(match[1], start, length, match[5] == "-", scale, offset, low, high, match[10])
            )
        elif stripped:
            close()
            current = None
    close()
    return frames


@cache
def frame_layouts(variant: str | None = None) -> Mapping[int, FrameLayout]:
    """The layouts of ``pylontech.dbc``, with ``variant``'s frames replacing those of the same id."""
    layouts = parse_layouts(dbc_text())
    if variant is not None:
        if variant not in VARIANTS:
            raise KeyError(f"unknown frame variant {variant!r}")
        layouts.update(parse_layouts(dbc_text(variant)))
    return layouts
