"""The inverter's side of a private python-can virtual bus, for the shared sink contract tests.

:class:`PylontechPeer` reads every 0x351 the sink sends and decodes it with ``struct``, not with
the plugin's DBC, so what it reports as granted is an independent reading of the bytes.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

from gateway_core.simkit import Grant

LIMITS_ID = 0x351
#: Most frames taken per :meth:`PylontechPeer.grants` call.
MAX_FRAMES = 10000


def decode_limits(data: bytes) -> Grant | None:
    """The grant of one 0x351 payload (CVL, CCL, DCL[, DVL]), None if shorter than 6 bytes."""
    if len(data) < 6:
        return None
    cvl, ccl, dcl = struct.unpack_from("<Hhh", data)
    dvl = struct.unpack_from("<H", data, 6)[0] / 10.0 if len(data) >= 8 else None
    return Grant(max(0.0, ccl / 10.0), max(0.0, dcl / 10.0), cvl / 10.0, dvl)


class PylontechPeer:
    """A simulated inverter on its own virtual CAN channel."""

    def __init__(self) -> None:
        import can

        self.channel = f"pylontech-peer-{uuid.uuid4().hex}"
        self._bus: Any = can.Bus(interface="virtual", channel=self.channel)

    def sink_settings(self) -> dict[str, Any]:
        """The ``[pylontech]`` keys that reach this peer."""
        return {"interface": "virtual", "channel": self.channel, "frame_gap_s": 0.0}

    def grants(self) -> list[Grant]:
        """What every 0x351 received since the last call permits, in arrival order."""
        bus = self._bus
        if bus is None:
            return []
        out = []
        for _ in range(MAX_FRAMES):
            message = bus.recv(0)
            if message is None:
                break
            if message.arbitration_id != LIMITS_ID or message.is_extended_id or message.is_remote_frame:
                continue
            grant = decode_limits(bytes(message.data))
            if grant is not None:
                out.append(grant)
        return out

    def close(self) -> None:
        """Leave the virtual bus; idempotent."""
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.shutdown()
