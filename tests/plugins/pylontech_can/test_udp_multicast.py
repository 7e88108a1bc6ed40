"""The sink over python-can's udp_multicast interface (loopback only): another process's view of the bus."""

from __future__ import annotations

import logging
import random
import time

import can

from gateway_core.model import LimitFlag, Limits
from gateway_core.roles import PluginContext
from pylontech_can.config import PylontechConfig
from pylontech_can.decode import decode_frame
from pylontech_can.sink import PylontechSink
from tests.fakes import FakeClock, make_reading


def test_frames_published_over_udp_multicast_arrive_and_decode() -> None:
    group = f"239.74.{random.randint(0, 255)}.{random.randint(1, 254)}"
    inverter = can.Bus(interface="udp_multicast", channel=group)
    clock = FakeClock()
    config = PylontechConfig(interface="udp_multicast", channel=group, frame_gap_s=0.0)
    sink = PylontechSink(config, PluginContext("pylontech", clock, logging.getLogger("test.udp")))
    try:
        sink.open()
        limits = Limits(30.0, 50.0, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("test",))
        sink.publish(make_reading(clock, soc_pct=64.0), limits)
        seen: dict[int, bytes] = {}
        deadline = time.monotonic() + 10  # a bound on waiting, not an assertion on time
        while len(seen) < 6 and time.monotonic() < deadline:
            message = inverter.recv(0.5)
            if message is not None:
                seen[message.arbitration_id] = bytes(message.data)
        assert set(seen) == {0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E}
        assert decode_frame(0x351, seen[0x351])["charge_current_limit_a"] == 30.0
        assert decode_frame(0x351, seen[0x351])["discharge_current_limit_a"] == 50.0
        assert decode_frame(0x355, seen[0x355])["soc_pct"] == 64
    finally:
        sink.close()
        inverter.shutdown()
