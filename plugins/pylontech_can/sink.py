"""The ``pylontech`` sink: sends the profile's frame set on any python-can bus, and listens for 0x305.

Every publish sends the whole set from the engine's loop, one ``bus.send`` per frame, spaced by
``frame_gap_s`` on the injected clock. There is deliberately no kernel periodic task (SocketCAN
BCM): it would keep sending the last limits if the process hung. Before each frame the sink checks
how long the publish has taken: past :data:`STALL_FRACTION` x the cycle period (the process was
frozen, an SD card stalled), or with this cycle's reading older than :data:`READING_WAIT_FRACTION`
periods, the rest of the set rests on old numbers, so it is abandoned and the stop set goes out
instead. Any bus trouble (``CanError``, ``OSError``, a bus-off error frame, an
slcan adapter refusing frames) raises :class:`SinkUnavailable`; the engine then closes the sink,
logs once per outage and reopens it with backoff. A corrupt received frame is skipped.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable

import can

from gateway_core.errors import ConfigError, SinkUnavailable
from gateway_core.model import BatteryReading, Fault, Limits, PublishReport, SentFrame
from gateway_core.roles import PluginContext

from .config import PylontechConfig
from .dbc import ALL_BATTERY_IDS, LIMITS_ID
from .frames import CanFrame, FrameBuilder
from .obey import ObedienceWatch
from .profile import ProfileError, resolve
from .slcanbus import CORRUPT_LINE, open_bus

#: Linux error-frame class bit for bus-off (``CAN_ERR_BUSOFF`` in linux/can/error.h).
CAN_ERR_BUSOFF = 0x40
#: Most received frames handled per publish (a flooded bus must not stall the loop).
MAX_DRAIN = 256
#: A publish still sending after this fraction of the cycle period abandons its set (see module doc).
STALL_FRACTION = 0.8
#: A reading newer than the previous publish whose frames are not out this many periods after it was
#: taken was held up between the source and the bus (a freeze): its set is abandoned too. A kept
#: last-good reading (older than the previous publish) is the engine's to judge (``stale_after``).
READING_WAIT_FRACTION = 1.5

BusFactory = Callable[..., can.BusABC]


class PylontechSink:
    """Pylontech low-voltage CAN battery, as seen by the inverter."""

    def __init__(
        self, config: PylontechConfig, ctx: PluginContext, *, bus_factory: BusFactory | None = None
    ) -> None:
        if bus_factory is None and config.interface not in can.VALID_INTERFACES:
            known = ", ".join(sorted(can.VALID_INTERFACES))
            raise ConfigError(
                f"[{ctx.name}] interface = {config.interface!r} is not a python-can interface; "
                f"available: {known}"
            )
        try:
            self._profile = resolve(config)
        except ProfileError as exc:
            raise ConfigError(f"[{ctx.name}] {exc}") from None
        self._config = config
        self._ctx = ctx
        self._log = ctx.logger
        self._bus_factory: BusFactory = bus_factory or open_bus
        self._builder = FrameBuilder(config, ctx.logger, self._profile)
        self._watch = ObedienceWatch(config.obey_margin_a, config.obey_after_s)
        self._granted: tuple[float, float] | None = None
        self._last_publish_at = -math.inf
        self._first_sent_at = 0.0  # when this set's first frame left (the frame gap's schedule)
        self._bus: can.BusABC | None = None
        self._peer_seen_at_s: float | None = None
        self._peer_silent = True
        self._foreign_logged: set[int] = set()
        self._corrupt_seen = 0
        self._corrupt_logged = 0
        # udp_multicast hears its own frames: a tag in the (packed) channel field tells them apart
        self._own_tag = (
            f"battery-gateway-{os.getpid()}-{id(self):x}" if config.interface == "udp_multicast" else None
        )

    @property
    def peer_seen_at_s(self) -> float | None:
        """When the inverter's heartbeat was last received (clock seconds), None if never."""
        return self._peer_seen_at_s

    @property
    def profile_name(self) -> str:
        """The effective inverter profile's name."""
        return self._profile.name

    def resources(self) -> tuple[str, ...]:
        """The CAN bus this sink drives (a virtual bus exists only in this process: none)."""
        if self._config.interface == "virtual":
            return ()
        return (f"can:{self._config.interface}:{self._config.channel}",)

    def open(self) -> None:
        """Open the bus. :raises SinkUnavailable: the interface or channel cannot be opened."""
        self.close()
        cfg = self._config
        where = f"{cfg.interface} channel {cfg.channel!r}"
        options = dict(cfg.bus_options)
        if cfg.interface == "slcan":  # python-can sleeps 2 s by default, for adapters that reset on open
            options.setdefault("sleep_after_open", cfg.slcan_open_wait_s)
        try:
            self._bus = self._bus_factory(
                interface=cfg.interface, channel=cfg.channel, bitrate=cfg.bitrate, **options
            )
        except (can.CanError, OSError, ValueError, TypeError, ImportError) as exc:
            raise SinkUnavailable(f"cannot open CAN bus {where}: {_text(exc)}") from exc
        self._log.debug("CAN bus %s open (profile %s)", where, self._profile.name)

    def publish(self, reading: BatteryReading | None, limits: Limits) -> PublishReport:
        """Send this cycle's frame set, then take in what arrived (the inverter's heartbeat).

        :raises SinkUnavailable: the bus is closed or failed (sending, receiving, bus-off, refused).
        """
        bus = self._bus
        if bus is None:
            raise SinkUnavailable("CAN bus is not open")
        clock = self._ctx.clock
        started = clock.now()
        # a reading of this cycle (newer than the previous publish) may not wait long for its frames
        fresh_at = reading.taken_at_s if reading and reading.taken_at_s >= self._last_publish_at else None
        self._last_publish_at = started
        problems: list[str] = []
        sent: list[CanFrame] = []
        for frame in self._builder.build(reading, limits, now_s=started):
            if not sent:
                self._first_sent_at = clock.now()
            self._gap(sent)
            late = self._late(started, fresh_at)
            if late is not None:
                problems.append(self._abandon(bus, late, sent))
                break
            self._send(bus, frame)
            sent.append(frame)
        self._drain(bus)
        verdict = self._watch.check(clock.now(), reading.current_a if reading else None, self._granted)
        if verdict.started:
            self._log.warning(
                "%s (the inverter does not follow the limits on %s)", verdict.problem, self._config.channel
            )
        elif verdict.ended:
            self._log.info("inverter follows the limits again")
        if verdict.problem is not None:
            problems.append(verdict.problem)
        self._granted = _granted(sent)
        return PublishReport(
            frames_sent=len(sent),
            peer_seen_at_s=self._peer_seen_at_s,
            frames=tuple(SentFrame(f.arbitration_id, f.data, False) for f in sent),
            problems=tuple(problems),
            limits_ignored=verdict.ignored,
        )

    def close(self) -> None:
        """Shut the bus down; idempotent, never raises."""
        bus, self._bus = self._bus, None
        if bus is None:
            return
        try:
            bus.shutdown()
        except Exception as exc:  # a broken adapter must not stop the shutdown
            self._log.debug("CAN bus shutdown raised: %s", _text(exc))

    # -- sending --------------------------------------------------------------------------------

    def _gap(self, sent: list[CanFrame]) -> None:
        """Wait until the next frame's slot: one ``frame_gap_s`` per frame after the set's first one.

        The slots are fixed from the first frame, so neither the sends nor a late wake-up (0.15 ms a
        sleep on a busy machine) add up over the set; the whole set takes 5 gaps plus one send. After
        a stall the frames catch up no closer than half a gap, never as a burst a receiver with two
        buffers (MCP2515) would drop.
        """
        gap = self._config.frame_gap_s
        if sent and gap > 0:
            slot = self._first_sent_at + len(sent) * gap
            self._ctx.clock.sleep(max(slot - self._ctx.clock.now(), gap / 2))

    def _late(self, started: float, fresh_at: float | None) -> str | None:
        """Why the next frame would come too late to be true, or None."""
        now = self._ctx.clock.now()
        period = self._ctx.period_s
        if now - started > STALL_FRACTION * period:
            return f"publish stalled {now - started:.2f} s (bound {STALL_FRACTION * period:.2f} s)"
        if fresh_at is not None and now - fresh_at > READING_WAIT_FRACTION * period:
            bound = READING_WAIT_FRACTION * period
            return f"the reading waited {now - fresh_at:.2f} s for its frames (bound {bound:.2f} s)"
        return None

    def _abandon(self, bus: can.BusABC, late: str, sent: list[CanFrame]) -> str:
        """The set is too late to be true: send the stop set instead. Returns the problem text."""
        text = f"{late} after {len(sent)} frame(s): the rest of the set was abandoned and stop limits sent"
        self._log.warning("%s", text)
        stop = Limits.stop("publish stalled", Fault.TIMEOUT)
        # the stop set's slots start anew: its first frame one whole gap after the last one sent
        # (at once when none was), each later one a gap after the one before
        self._first_sent_at = self._ctx.clock.now() - max(len(sent) - 1, 0) * self._config.frame_gap_s
        for frame in self._builder.build(None, stop, now_s=self._ctx.clock.now()):
            self._gap(sent)
            self._send(bus, frame)
            sent.append(frame)
        return text

    def _send(self, bus: can.BusABC, frame: CanFrame) -> None:
        message = can.Message(arbitration_id=frame.arbitration_id, data=frame.data, is_extended_id=False)
        if self._own_tag is not None:
            message.channel = self._own_tag
        try:
            bus.send(message, timeout=self._config.send_timeout_s)
        except (can.CanError, OSError, ValueError) as exc:
            raise SinkUnavailable(f"sending 0x{frame.arbitration_id:03X} failed: {_text(exc)}") from exc

    # -- receiving ------------------------------------------------------------------------------

    def _drain(self, bus: can.BusABC) -> None:
        """Read what is waiting without blocking; note the heartbeat, bus-off and refused frames.

        slcan answers each sent frame with an ``z`` acknowledgement that ``recv(0)`` reports as
        "nothing", so a few empty polls in a row, not the first, end the drain.
        """
        idle_limit = 2 + len(self._profile.frames)
        idle = 0
        for _ in range(MAX_DRAIN):
            try:
                message = bus.recv(0)
            except CORRUPT_LINE:
                self._corrupt_seen += 1  # one corrupt frame from the adapter: skip it, keep going
                continue
            except (can.CanError, OSError) as exc:
                raise SinkUnavailable(f"receiving failed: {_text(exc)}") from exc
            if message is None:
                idle += 1
                if idle >= idle_limit:
                    break
                continue
            idle = 0
            self._received(message)
        self._note_corrupt(bus)
        refused = bus.take_refusals() if hasattr(bus, "take_refusals") else 0
        if refused:
            raise SinkUnavailable(
                f"the slcan adapter refused {refused} frame(s) (BEL): its CAN channel is closed, "
                "e.g. after an adapter reset"
            )
        self._check_silence()

    def _note_corrupt(self, bus: can.BusABC) -> None:
        corrupt = self._corrupt_seen + getattr(bus, "corrupt", 0)
        if corrupt > self._corrupt_logged:
            self._log.info("skipped %d corrupt received frame(s) so far", corrupt)
            self._corrupt_logged = corrupt * 2  # log again only when the count doubles

    def _received(self, message: can.Message) -> None:
        if message.is_error_frame:
            if message.arbitration_id & CAN_ERR_BUSOFF:
                raise SinkUnavailable("the CAN controller reported bus-off")
            return
        if message.is_remote_frame or message.is_rx is False:
            return  # a remote request, or an echo of our own frame
        if self._own_tag is not None and message.channel == self._own_tag:
            return  # udp_multicast delivers our own frames back to us
        peer = message.arbitration_id in self._profile.peer_ids
        if message.is_extended_id:
            if peer and self._profile.peer_extended_ids:
                self._heard(message.arbitration_id, extended=True)
            return
        if peer:
            self._heard(message.arbitration_id, extended=False)
        elif message.arbitration_id in ALL_BATTERY_IDS and message.arbitration_id not in self._foreign_logged:
            self._foreign_logged.add(message.arbitration_id)
            self._log.warning(
                "another device sends 0x%03X on %s (a second battery or gateway?)",
                message.arbitration_id,
                self._config.channel,
            )

    def _heard(self, arbitration_id: int, *, extended: bool) -> None:
        now = self._ctx.clock.now()
        if self._peer_silent:
            what = f"0x{arbitration_id:0{8 if extended else 3}X}{' (29-bit)' if extended else ''}"
            if self._peer_seen_at_s is None:
                self._log.info("inverter heard (%s on %s)", what, self._config.channel)
            else:
                self._log.info("inverter heard again (%s) after %.0f s", what, now - self._peer_seen_at_s)
            self._peer_silent = False
        self._peer_seen_at_s = now

    def _check_silence(self) -> None:
        seen = self._peer_seen_at_s
        if seen is None or self._peer_silent:
            return
        quiet = self._ctx.clock.now() - seen
        if quiet > self._profile.peer_silent_after_s:
            self._peer_silent = True
            self._log.warning("inverter silent: no heartbeat for %.0f s (frames are still sent)", quiet)


def _granted(sent: list[CanFrame]) -> tuple[float, float] | None:
    """The CCL and DCL (A) of the last 0x351 sent, None when none went out."""
    for frame in reversed(sent):
        if frame.arbitration_id == LIMITS_ID and len(frame.data) >= 6:
            _cvl, ccl, dcl = struct.unpack_from("<Hhh", frame.data)
            return ccl / 10.0, dcl / 10.0
    return None


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
