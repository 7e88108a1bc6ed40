"""Load the plugin's own DBC files once per process, and name their frames.

``pylontech.dbc`` holds the V1.2 frame set and every extra frame an inverter profile may add
(0x35A, 0x35F, 0x370-0x377, 0x379). A few inverters read 0x355/0x356/0x359/0x35C with another
layout; those *variants* live in ``variants/<name>.dbc`` and replace the frame of the same id in
:func:`load_database` when asked for (``"8"``: eight-byte 0x355/0x356, ``"luxpower"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cantools.database.can import Database, Message

#: Frames the battery side sends each cycle, in the order Pylontech batteries send them.
LIMITS_ID = 0x351
SOC_ID = 0x355
MEASUREMENTS_ID = 0x356
ALARMS_ID = 0x359
REQUESTS_ID = 0x35C
MANUFACTURER_ID = 0x35E
#: The inverter's heartbeat: received, never sent.
HEARTBEAT_ID = 0x305

BATTERY_FRAME_IDS = (LIMITS_ID, SOC_ID, MEASUREMENTS_ID, ALARMS_ID, REQUESTS_ID, MANUFACTURER_ID)
#: Extension frames a profile may add, in id order.
EXTRA_FRAME_IDS = (0x35A, 0x35F, 0x370, 0x371, 0x372, 0x373, 0x374, 0x375, 0x376, 0x377, 0x379)
#: Every id a battery (this gateway or another) may send.
ALL_BATTERY_IDS = frozenset(BATTERY_FRAME_IDS + EXTRA_FRAME_IDS)

#: Variant name -> DBC file under ``variants/`` and the frame ids it redefines.
VARIANTS: Mapping[str, tuple[str, tuple[int, ...]]] = {
    "8": ("eight-byte.dbc", (SOC_ID, MEASUREMENTS_ID)),
    "luxpower": ("luxpower.dbc", (SOC_ID, MEASUREMENTS_ID, ALARMS_ID, REQUESTS_ID)),
}


def dbc_text(variant: str | None = None) -> str:
    """The DBC file shipped in the package (or a variant's), as text."""
    root = resources.files("pylontech_can")
    if variant is None:
        return root.joinpath("pylontech.dbc").read_text(encoding="ascii")
    return root.joinpath("variants", VARIANTS[variant][0]).read_text(encoding="ascii")


@cache
def load_database(variant: str | None = None) -> Database:
    """The parsed DBC (cantools), loaded on first use and then shared.

    With ``variant``, the frames that variant redefines replace those of ``pylontech.dbc``.
    """
    import cantools
    from cantools.database.can import Database as CanDatabase

    base = cantools.database.load_string(dbc_text(), database_format="dbc", strict=True)
    if variant is None:
        return base  # type: ignore[return-value]
    extra = cantools.database.load_string(dbc_text(variant), database_format="dbc", strict=True)
    replaced = {message.frame_id for message in extra.messages}  # type: ignore[union-attr]
    messages: list[Message] = [m for m in base.messages if m.frame_id not in replaced]  # type: ignore[union-attr]
    messages += list(extra.messages)  # type: ignore[union-attr]
    return CanDatabase(messages=messages, nodes=list(base.nodes), strict=True)  # type: ignore[union-attr]


def variant_of(frame_id: int, variants: Mapping[int, str | None] | None) -> str | None:
    """The variant ``variants`` names for ``frame_id`` (None: the layout of ``pylontech.dbc``)."""
    if not variants:
        return None
    return variants.get(frame_id)
