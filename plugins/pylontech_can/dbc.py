"""Load the plugin's own DBC (``pylontech.dbc``) once per process, and name its frames."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cantools.database.can import Database

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


def dbc_text() -> str:
    """The DBC file shipped in the package, as text."""
    return resources.files("pylontech_can").joinpath("pylontech.dbc").read_text(encoding="ascii")


@lru_cache(maxsize=1)
def load_database() -> Database:
    """The parsed DBC (cantools), loaded on first use and then shared."""
    import cantools

    db = cantools.database.load_string(dbc_text(), database_format="dbc", strict=True)
    return db  # type: ignore[return-value]
