"""A JK BMS on a pseudo-terminal for benchmarks, noting when each reply left (``time.perf_counter``).

The CAN side is :class:`tests.support.slcan.SlcanAdapter` with ``clock=time.perf_counter``.
"""

from __future__ import annotations

import time

from gateway_core.ptysim import wire_time_s
from jk_uart.simulator import SimulatedBms
from tests.support.pty import PtyPeer

BAUD = 115200


class JkPeer(PtyPeer):
    """Answers each read request after its wire time at 115200 baud (as a real line would; the
    source refuses a reply faster than that as a late one); ``replied_at`` lists when the last byte
    of each reply was in the pty (after ``os.write`` returned)."""

    def __init__(self, cells: int = 16) -> None:
        self.sim = SimulatedBms(cells=cells, soc_pct=60.0, current_a=-10.0)
        self.replied_at: list[float] = []
        super().__init__(clock=time.perf_counter, name="bench-jk")

    def _received(self, buffer: bytes, now: float) -> bytes:
        reply = self.sim.reply(buffer)
        if reply:
            time.sleep(wire_time_s(len(buffer) + len(reply), BAUD))
            self._send(reply)
            self.replied_at.append(self.clock())
        return b""
