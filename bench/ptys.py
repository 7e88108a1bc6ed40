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
    of each reply was in the pty (after ``os.write`` returned).

    With ``chunk_bytes`` the reply streams in pieces of that size, each written after its own wire
    time, as a USB serial adapter hands a UART's bytes to the host in packets; otherwise it arrives
    whole after the wire time of request and reply.
    """

    def __init__(self, cells: int = 16, chunk_bytes: int | None = None) -> None:
        self.sim = SimulatedBms(cells=cells, soc_pct=60.0, current_a=-10.0)
        self.chunk_bytes = chunk_bytes
        self.replied_at: list[float] = []
        super().__init__(clock=time.perf_counter, name="bench-jk")

    def _received(self, buffer: bytes, now: float) -> bytes:
        reply = self.sim.reply(buffer)
        if not reply:
            return b""
        if self.chunk_bytes is None:
            time.sleep(wire_time_s(len(buffer) + len(reply), BAUD))
            self._send(reply)
        else:
            time.sleep(wire_time_s(len(buffer), BAUD))
            for start in range(0, len(reply), self.chunk_bytes):
                piece = reply[start : start + self.chunk_bytes]
                time.sleep(wire_time_s(len(piece), BAUD))
                self._send(piece)
        self.replied_at.append(self.clock())
        return b""
