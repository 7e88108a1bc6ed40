"""The ``jk_pb`` source: one JK-PB pack on an RS485 line that it may share with up to 14 others.

Every instance on one port gets the same open port through :func:`gateway_core.serialbus.open_line`
and polls in turns (:meth:`SharedLine.turn`: least recently served first, ``bus_gap_s`` of silence
between commands). A read is one turn and one poll, budgeted to end inside the engine's lane
deadline (0.8 of the period): the wait for the turn is what the budget leaves after the gap and one
exchange, so a pack waiting behind others gives up (:class:`LineBusy`, a SourceTimeout: the engine
keeps its last good reading until stale) instead of hanging the cycle.

Opening reads the settings (the BMS's own current limits) and, with ``layout = "auto"``, the device
info that names the layout; no reading is given before the settings are known. A pack silent for
:data:`MISSING_AFTER` polls in a row has its settings read again once it answers (it may have been
power-cycled or swapped). A silent pack is never "unavailable": the port is fine, the engine keeps
its last good reading until stale, and the line's fairness gives it only its share of the turns.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gateway_core.engine import LANE_SHARE
from gateway_core.errors import FrameError, ImplausibleReply, SourceError, SourceUnavailable
from gateway_core.model import BatteryReading
from gateway_core.ptysim import wire_time_s
from gateway_core.roles import PluginContext
from gateway_core.serialbus import LineBusy, SharedLine, line_key, open_line

from .cellinfo import CellInfo, decode_cell_info
from .config import JkPbConfig
from .decode import decode_cell_info_auto
from .exchange import READ_SLICE_S, NoReply, Reply, poll
from .layout import LAYOUT_24S, LAYOUT_32S, layout_for_device
from .reading import to_reading
from .records import CELL_INFO, DEVICE_INFO, SETTINGS
from .settings import DeviceInfo, Settings, decode_device_info, decode_settings
from .stream import StreamParser

SIM_SCHEME = "jkpbsim://"
#: When a jk_pb poll last ended on each shared line (by line key): how much of the gap is still owed.
_TURN_ENDS: dict[str, float] = {}
#: Consecutive silent polls after which the pack's settings are read again when it answers.
MISSING_AFTER = 3
#: Kept free before the lane deadline.
LANE_MARGIN_S = 0.03
#: BMS think time allowed on top of the wire time of one exchange (captures: request to ACK ~38 ms).
BMS_LATENCY_S = 0.02


def port_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the port itself failed (unplugged adapter, closed pty)."""
    import serial

    errors: list[type[BaseException]] = [serial.SerialException, OSError]
    with contextlib.suppress(ImportError):
        import termios

        errors.append(termios.error)
    return tuple(errors)


def enable_simulator_urls() -> None:
    """Make ``serial.serial_for_url`` understand ``jkpbsim://`` (idempotent)."""
    import serial

    if "jk_pb" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("jk_pb")


class JkPbSource:
    """A :class:`~gateway_core.roles.BmsSource` for one JK-PB pack at ``config.address``."""

    def __init__(self, config: JkPbConfig, ctx: PluginContext) -> None:
        self.config = config
        self._ctx = ctx
        self._client = ctx.name or "jk_pb"
        self._line: SharedLine[Any] | None = None
        self._parser = StreamParser()
        self._errors: tuple[type[BaseException], ...] = ()
        self._silent = 0
        self.layout: str | None = None
        self.settings: Settings | None = None
        self.device: DeviceInfo | None = None
        self.last_info: CellInfo | None = None
        self.last_reply: Reply | None = None
        self.exchange_s = wire_time_s(11 + 310, config.baudrate) + BMS_LATENCY_S

    @property
    def where(self) -> str:
        """``port, address N`` for messages."""
        return f"{self.config.port}, address {self.config.address}"

    def resources(self) -> tuple[str, ...]:
        """The port this source uses (instances on one line share the claim)."""
        return (f"serial:{line_key(self.config.port)}",)

    def open(self) -> None:
        """Open (or join) the line, then read the device info and the settings if the line is free.

        :raises SourceUnavailable: the port cannot be opened, or the pack does not answer.
        """
        if self._line is not None:
            return
        self._errors = port_errors()
        self._line = open_line(self.config.port, self._client, self._open_port, _close_port, self._ctx.clock)
        self.layout = None if self.config.layout == "auto" else self.config.layout
        self.settings = self.device = None
        self._silent = 0
        try:
            self._prime(self._budget_end(), at_open=True)
        except SourceUnavailable:
            raise
        except SourceError as exc:  # silent, a busy line or a bad reply: the reads try again
            self._ctx.logger.debug("%s: settings not read at open: %s", self.where, exc)

    def close(self) -> None:
        """Leave the line (the last instance out closes the port); idempotent, never raises."""
        line, self._line = self._line, None
        if line is not None:
            with contextlib.suppress(Exception):
                line.release(self._client)

    def read(self) -> BatteryReading:
        """Poll the pack's cell info once; the reading is stamped with the engine clock.

        :raises SourceUnavailable: port gone, or the pack silent for several polls.
        :raises SourceTimeout: no reply, or no turn on the line in time (LineBusy).
        :raises FrameError: corrupt or foreign reply. :raises ImplausibleReply: impossible content.
        """
        info = self.read_cell_info()
        return to_reading(info, self.settings, self._ctx.name, self._ctx.clock.now())

    def read_cell_info(self) -> CellInfo:
        """One cell-info poll, decoded (same errors as :meth:`read`)."""
        end = self._budget_end()
        self._prime(end)
        reply = self._poll(CELL_INFO, end)
        if self.layout is None:
            info = decode_cell_info_auto(reply.record)
            self.layout = info.layout  # from now on a record must fit this layout
        else:
            info = decode_cell_info(reply.record, self.layout)
        self.last_info = info
        return info

    # -- internals ----------------------------------------------------------------------------

    def _budget_end(self) -> float:
        return self._ctx.clock.now() + LANE_SHARE * self._ctx.period_s - LANE_MARGIN_S

    def _prime(self, end: float, *, at_open: bool = False) -> None:
        """Read the settings (no reading before them), and at open the device info if there is room.

        The device info names the layout; without it (a busy line at open, or a firmware that skips
        device-info requests now and then) the first cell-info record decides, 32S first: read with
        the wrong layout a record fails the decoder's checks (see :mod:`jk_pb.cellinfo`).
        """
        if self.settings is None:
            settings = decode_settings(self._poll(SETTINGS, end).record)
            if settings.address not in (0, self.config.address):
                raise FrameError(f"settings record says address {settings.address} ({self.where})")
            self.settings = settings
        if not at_open or self.layout is not None or self.device is not None:
            return
        try:
            self.device = decode_device_info(self._poll(DEVICE_INFO, end).record)
        except ImplausibleReply:
            raise
        except SourceError as exc:  # informational: the cell info can name its layout itself
            self._ctx.logger.debug("%s: no device info at open: %s", self.where, exc)
            return
        d = self.device
        layout = layout_for_device(d.model, d.hardware_version, d.software_version)
        if layout not in (LAYOUT_24S, LAYOUT_32S):
            raise FrameError(f"{d.model} ({self.where}) sends {layout} records, which jk_pb does not read")
        self.layout = layout

    def _poll(self, frame_type: int, end: float) -> Reply:
        line = self._line
        if line is None:
            raise SourceUnavailable(f"{self.config.port} is not open")
        clock, gap = self._ctx.clock, self.config.bus_gap_s
        left = end - clock.now()
        due = max(0.0, gap - (clock.now() - _TURN_ENDS.get(line.key, -gap)))  # gap owed if granted now
        if left < due + self.exchange_s:
            raise LineBusy(f"{self.where}: no room for a poll in this cycle ({left:.3f} s left)")
        wait_s = max(0.0, left - gap - self.exchange_s)  # a full gap follows another instance's turn
        try:
            with line.turn(self._client, wait_s=wait_s, gap_s=gap) as port:
                try:
                    left = end - clock.now()
                    if left < self.exchange_s:
                        raise LineBusy(
                            f"{self.where}: the turn came too late in the cycle ({left:.3f} s left)"
                        )
                    reply = poll(
                        port, address=self.config.address, frame_type=frame_type, clock=clock,
                        timeout_s=min(self.config.timeout, left), baud=self.config.baudrate,
                        parser=self._parser, where=self.where,
                    )  # fmt: skip
                finally:
                    _TURN_ENDS[line.key] = clock.now()
        except LineBusy:
            raise
        except NoReply:
            self._silent += 1
            if self._silent == MISSING_AFTER:  # power-cycled or swapped? learn it again
                self.layout = None if self.config.layout == "auto" else self.config.layout
                self._ctx.logger.info(
                    "%s: silent for %d polls; its settings are read again", self.where, self._silent
                )
                self.settings = None
            raise
        except SourceUnavailable:
            self.close()
            raise
        except self._errors as exc:
            line.invalidate()
            self.close()
            raise SourceUnavailable(f"{self.config.port}: {exc}") from None
        self._silent = 0
        self.last_reply = reply
        for note in reply.notes:
            self._ctx.logger.debug("%s: %s", self.where, note)
        return reply

    def _open_port(self) -> Any:
        import serial

        if self.config.port.lower().startswith(SIM_SCHEME):
            enable_simulator_urls()
        self._errors = self._errors or port_errors()
        refusals: tuple[type[BaseException], ...] = (*self._errors, ValueError)
        try:
            port = serial.serial_for_url(
                self.config.port,
                baudrate=self.config.baudrate,
                timeout=READ_SLICE_S,
                write_timeout=max(self.config.timeout, 0.1),
                exclusive=True,
                do_not_open=True,
            )
            port.open()
        except refusals as exc:
            raise SourceUnavailable(f"cannot open {self.config.port}: {exc}") from None
        return port


def _close_port(port: Any) -> None:
    port.close()
