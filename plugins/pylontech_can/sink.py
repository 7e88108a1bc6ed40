"""The ``pylontech`` sink: sends the frame set on any python-can bus, and listens for 0x305.

Every publish sends the whole set from the engine's loop, one ``bus.send`` per frame, spaced by
``frame_gap_s`` on the injected clock. There is deliberately no kernel periodic task (SocketCAN
BCM): it would keep sending the last limits if the process hung. Any bus trouble (``CanError``,
``OSError``, a bus-off error frame) raises :class:`SinkUnavailable`; the engine then closes the
sink, logs once per outage and reopens it with backoff.
"""

from __future__ import annotations

from collections.abc import Callable

import can

from gateway_core.errors import ConfigError, SinkUnavailable
from gateway_core.model import BatteryReading, Limits, PublishReport
from gateway_core.roles import PluginContext

from .config import PylontechConfig
from .dbc import BATTERY_FRAME_IDS, HEARTBEAT_ID
from .frames import CanFrame, FrameBuilder

#: Linux error-frame class bit for bus-off (``CAN_ERR_BUSOFF`` in linux/can/error.h).
CAN_ERR_BUSOFF = 0x40
#: Most received frames handled per publish (a flooded bus must not stall the loop).
MAX_DRAIN = 256

BusFactory = Callable[..., can.BusABC]


class PylontechSink:
    """Pylontech low-voltage CAN battery, as seen by the inverter."""

    def __init__(
        self, config: PylontechConfig, ctx: PluginContext, *, bus_factory: BusFactory | None = None
    ) -> None:
        if bus_factory is None and config.interface not in can.VALID_INTERFACES:
            known = ", ".join(sorted(can.VALID_INTERFACES))
            raise ConfigError(
                f"[pylontech] interface = {config.interface!r} is not a python-can interface; "
                f"available: {known}"
            )
        self._config = config
        self._ctx = ctx
        self._log = ctx.logger
        self._bus_factory: BusFactory = bus_factory or can.Bus
        self._builder = FrameBuilder(config, ctx.logger)
        self._bus: can.BusABC | None = None
        self._peer_seen_at_s: float | None = None
        self._peer_silent = True
        self._foreign_logged: set[int] = set()

    @property
    def peer_seen_at_s(self) -> float | None:
        """When the inverter's 0x305 was last received (clock seconds), None if never."""
        return self._peer_seen_at_s

    def open(self) -> None:
        """Open the bus. :raises SinkUnavailable: the interface or channel cannot be opened."""
        self.close()
        cfg = self._config
        where = f"{cfg.interface} channel {cfg.channel!r}"
        try:
            self._bus = self._bus_factory(
                interface=cfg.interface, channel=cfg.channel, bitrate=cfg.bitrate, **dict(cfg.bus_options)
            )
        except (can.CanError, OSError, ValueError, TypeError, ImportError) as exc:
            raise SinkUnavailable(f"cannot open CAN bus {where}: {_text(exc)}") from exc
        self._log.debug("CAN bus %s open", where)

    def publish(self, reading: BatteryReading | None, limits: Limits) -> PublishReport:
        """Send this cycle's frame set, then take in what arrived (0x305).

        :raises SinkUnavailable: the bus is closed or failed (sending, receiving, bus-off).
        """
        bus = self._bus
        if bus is None:
            raise SinkUnavailable("CAN bus is not open")
        frames = self._builder.build(reading, limits)
        for index, frame in enumerate(frames):
            if index and self._config.frame_gap_s > 0:
                self._ctx.clock.sleep(self._config.frame_gap_s)
            self._send(bus, frame)
        self._drain(bus)
        return PublishReport(frames_sent=len(frames), peer_seen_at_s=self._peer_seen_at_s)

    def close(self) -> None:
        """Shut the bus down; idempotent, never raises."""
        bus, self._bus = self._bus, None
        if bus is None:
            return
        try:
            bus.shutdown()
        except Exception as exc:  # a broken adapter must not stop the shutdown
            self._log.debug("CAN bus shutdown raised: %s", _text(exc))

    # -- internals ------------------------------------------------------------------------------

    def _send(self, bus: can.BusABC, frame: CanFrame) -> None:
        message = can.Message(arbitration_id=frame.arbitration_id, data=frame.data, is_extended_id=False)
        try:
            bus.send(message, timeout=self._config.send_timeout_s)
        except (can.CanError, OSError, ValueError) as exc:
            raise SinkUnavailable(f"sending 0x{frame.arbitration_id:03X} failed: {_text(exc)}") from exc

    def _drain(self, bus: can.BusABC) -> None:
        """Read what is waiting without blocking; note 0x305 and bus-off.

        slcan answers each sent frame with an ``z`` acknowledgement that ``recv(0)`` reports as
        "nothing", so a few empty polls in a row, not the first, end the drain.
        """
        idle_limit = 2 + len(BATTERY_FRAME_IDS)
        idle = 0
        for _ in range(MAX_DRAIN):
            try:
                message = bus.recv(0)
            except (can.CanError, OSError, ValueError) as exc:
                raise SinkUnavailable(f"receiving failed: {_text(exc)}") from exc
            if message is None:
                idle += 1
                if idle >= idle_limit:
                    break
                continue
            idle = 0
            self._received(message)
        self._check_silence()

    def _received(self, message: can.Message) -> None:
        if message.is_error_frame:
            if message.arbitration_id & CAN_ERR_BUSOFF:
                raise SinkUnavailable("the CAN controller reported bus-off")
            return
        if message.is_extended_id or message.is_remote_frame:
            return
        if message.arbitration_id == HEARTBEAT_ID:
            now = self._ctx.clock.now()
            if self._peer_silent:
                if self._peer_seen_at_s is None:
                    self._log.info("inverter heard (0x305 on %s)", self._config.channel)
                else:
                    self._log.info("inverter heard again (0x305) after %.0f s", now - self._peer_seen_at_s)
                self._peer_silent = False
            self._peer_seen_at_s = now
        elif (
            message.arbitration_id in BATTERY_FRAME_IDS and message.arbitration_id not in self._foreign_logged
        ):
            self._foreign_logged.add(message.arbitration_id)
            self._log.warning(
                "another device sends 0x%03X on %s (a second battery or gateway?)",
                message.arbitration_id,
                self._config.channel,
            )

    def _check_silence(self) -> None:
        seen = self._peer_seen_at_s
        if seen is None or self._peer_silent:
            return
        quiet = self._ctx.clock.now() - seen
        if quiet > self._config.peer_silent_after_s:
            self._peer_silent = True
            self._log.warning("inverter silent: no 0x305 for %.0f s (frames are still sent)", quiet)


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
