"""Signal values to frame bytes through our DBC files' layouts, clamping what does not fit (logged once)."""

from __future__ import annotations

import logging

from .layout import frame_layouts


def signal_names(frame_id: int) -> list[str]:
    """The signal names of ``frame_id`` in ``pylontech.dbc``."""
    return [signal.name for signal in frame_layouts()[frame_id].signals]


class SignalEncoder:
    """Encodes one frame's values; a value outside its signal's range is clamped, never a crash.

    A clamp is logged once per signal and again when the value is back in range.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._clamped: set[str] = set()

    def encode(self, frame_id: int, values: dict[str, float], variant: str | None = None) -> bytes:
        """The payload of ``frame_id`` (in ``variant``'s layout) for ``values`` (one per signal)."""
        frame = frame_layouts(variant)[frame_id]
        clamped: dict[str, float] = {}
        for signal in frame.signals:
            value = values[signal.name]
            low, high = signal.minimum, signal.maximum
            inside = min(max(value, low), high)
            key = f"{frame.name}.{signal.name}"
            if inside != value and key not in self._clamped:
                self._clamped.add(key)
                self._log.warning(
                    "0x%03X %s = %g is outside %g..%g %s: sending %g",
                    frame_id, signal.name, value, low, high, signal.unit, inside,
                )  # fmt: skip
            elif inside == value and key in self._clamped:
                self._clamped.discard(key)
                self._log.info("0x%03X %s is back in range (%g)", frame_id, signal.name, value)
            clamped[signal.name] = inside
        return frame.pack(clamped)
