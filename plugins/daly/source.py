"""The ``daly`` source: polls a Daly BMS over any pyserial port or URL.

The plugin's I/O module, with :mod:`daly.exchange`. The port is opened through the core's shared
lines (:func:`gateway_core.serialbus.open_line`), so several instances on one RS485 port (units with
their own board numbers) share one handle and take turns: one whole poll per turn, so each poll's
values belong together. A poll asks for the ids the reading uses (:data:`~daly.protocol.READ_IDS`:
0x90, 0x93, 0x94, 0x95, 0x96, 0x98). At open the source asks for each once (twice if needed) and
learns the ones its unit does not answer; it skips those after that, with one log line, and asks
for 0x92 in place of a missing 0x96. Without 0x90, 0x94 or 0x95 no reading is possible, so open
fails (``SourceUnavailable``: the engine retries with backoff). Each reply is checked as it
arrives, so an impossible one ends the poll at once.

Errors: a vanished port raises ``SourceUnavailable`` (the line is invalidated for every instance);
a missing or corrupt reply ``SourceTimeout`` or ``FrameError``; content that cannot be true
``ImplausibleReply``. In every case the engine has no reading and fails safe.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from gateway_core.errors import FrameError, SourceTimeout, SourceUnavailable
from gateway_core.model import BatteryReading
from gateway_core.ptysim import wire_time_s
from gateway_core.roles import PluginContext
from gateway_core.serialbus import SharedLine, open_line

from .config import DalyConfig
from .decode import DalyPoll, assemble, check_reply, frames_needed
from .exchange import READ_SLICE_S, Exchange, exchange
from .fields import decode_status
from .protocol import (
    FALLBACK_IDS,
    FRAME_SIZE,
    MULTI_FRAME_IDS,
    POLL_IDS,
    READ_IDS,
    REQUIRED_IDS,
    Frame,
    FrameAssembler,
    Rejection,
)
from .reading import to_reading

SIM_SCHEME = "dalysim://"
#: A poll must end within this share of the period (the engine's lane allows 0.8).
POLL_SHARE = 0.75
LEARN_ATTEMPTS = 2


def port_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the port itself failed (unplugged adapter, closed pty)."""
    import serial

    errors: list[type[BaseException]] = [serial.SerialException, OSError]
    try:
        import termios

        errors.append(termios.error)
    except ImportError:  # pragma: no cover - not POSIX
        pass
    return tuple(errors)


def enable_simulator_urls() -> None:
    """Make ``serial.serial_for_url`` understand ``dalysim://`` (idempotent)."""
    import serial

    if "daly" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("daly")


class _Unanswered(SourceTimeout):
    """A required id got no valid reply while learning (ends the learning at once)."""

    def __init__(self, data_id: int, why: str) -> None:
        super().__init__(f"0x{data_id:02X} not answered: {why}")
        self.data_id = data_id
        self.why = why


def _close_port(port: Any) -> None:
    port.close()


class DalySource:
    """A :class:`~gateway_core.roles.BmsSource` for one Daly unit (one board number on its port)."""

    def __init__(
        self, config: DalyConfig, ctx: PluginContext, *, wire_clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._ctx = ctx
        self._client = ctx.name or "daly"
        self._wire_clock = wire_clock
        self._line: SharedLine[Any] | None = None
        self._assembler = FrameAssembler()
        self._errors: tuple[type[BaseException], ...] = ()
        self._ids: tuple[int, ...] = READ_IDS
        self._logged_skips: tuple[int, ...] | None = None
        self.skipped: tuple[int, ...] = ()
        self.last_poll: DalyPoll | None = None

    @property
    def rejections(self) -> tuple[Rejection, ...]:
        """What the parser dropped during the last exchange, with reasons."""
        return tuple(self._assembler.rejections)

    @property
    def polled_ids(self) -> tuple[int, ...]:
        """The data ids each poll asks for: :data:`READ_IDS` the unit answered at open (0x92 in
        place of an unanswered 0x96)."""
        return self._ids

    def resources(self) -> tuple[str, ...]:
        """The port this source uses, for the core's per-process claim."""
        return (f"serial:{self.config.port}",)

    def open(self) -> None:
        """Open (or join) the port and learn the ids the unit answers.

        :raises SourceUnavailable: missing device, busy port, bad URL, or no answer to a required id.
        """
        if self._line is not None:
            return
        self._errors = port_errors()
        if self.config.port.lower().startswith(SIM_SCHEME):
            enable_simulator_urls()
        refusals: tuple[type[BaseException], ...] = (*self._errors, ValueError)
        try:
            line = open_line(self.config.port, self._client, self._open_port, _close_port, self._ctx.clock)
        except refusals as exc:
            raise SourceUnavailable(f"cannot open {self.config.port}: {exc}") from None
        self._line = line
        try:
            if getattr(line.handle, "baudrate", self.config.baudrate) != self.config.baudrate:
                raise SourceUnavailable(
                    f"{self.config.port} is already open at {line.handle.baudrate} baud by another instance; "
                    f"every instance on one port needs the same daly.baudrate"
                )
            self._learn()
        except BaseException:
            self.close()
            raise

    def _open_port(self) -> Any:
        import serial

        port = serial.serial_for_url(
            self.config.port,
            baudrate=self.config.baudrate,
            timeout=min(self.config.timeout, READ_SLICE_S),
            write_timeout=self.config.timeout,
            exclusive=True,
            do_not_open=True,
        )
        port.open()
        return port

    def close(self) -> None:
        """Leave the line (the last instance out closes the port); idempotent, never raises."""
        line, self._line = self._line, None
        if line is not None:
            with contextlib.suppress(Exception):
                line.release(self._client)

    def read(self) -> BatteryReading:
        """Poll the unit once and return its reading, stamped with the engine clock.

        :raises SourceUnavailable: the port is gone. :raises SourceTimeout: no complete reply in time.
        :raises FrameError: corrupt replies. :raises ImplausibleReply: impossible content.
        """
        poll = self.read_poll()
        taken_at = self._ctx.clock.now()
        return to_reading(
            poll,
            self._ctx.name,
            taken_at,
            invert_current=self.config.invert_current,
            capacity_ah=self.config.capacity_ah,
        )

    def read_poll(self) -> DalyPoll:
        """Poll the unit once and return the assembled frames (same errors as :meth:`read`)."""
        frames = self._poll(self._ids, learn=False)
        poll = assemble(frames)
        self.last_poll = poll
        return poll

    # -- the poll -----------------------------------------------------------------------------

    def _poll(self, ids: tuple[int, ...], *, learn: bool) -> list[Frame]:
        line = self._line
        if line is None:
            raise SourceUnavailable(f"{self.config.port} is not open")
        clock = self._ctx.clock
        per_request = self.config.timeout + self.config.bus_gap_s
        budget = len(ids) * LEARN_ATTEMPTS * per_request + 1.0 if learn else POLL_SHARE * self._ctx.period_s
        deadline = clock.now() + budget - READ_SLICE_S  # a blocked read may end one slice late
        frames: list[Frame] = []
        try:
            with line.turn(
                self._client, wait_s=min(self.config.bus_wait_s, budget), gap_s=self.config.bus_gap_s
            ) as port:
                ex = Exchange(
                    port, self.config.address, self.config.baudrate, clock, self._wire_clock, self.config.port
                )
                for index, data_id in enumerate(ids):
                    if index and self.config.bus_gap_s:
                        clock.sleep(self.config.bus_gap_s)
                    if clock.now() >= deadline:
                        raise self._too_long(budget, f"it stopped before 0x{data_id:02X}")
                    wanted = 1 if learn else self._frames_wanted(data_id, frames)
                    try:
                        got = self._ask(ex, data_id, wanted, deadline, learn=learn) if wanted else []
                    except SourceTimeout as exc:
                        if clock.now() < deadline or isinstance(exc, _Unanswered):
                            raise
                        raise self._too_long(budget, f"0x{data_id:02X}: {exc}") from None
                    if got and not learn:
                        check_reply(data_id, got)  # impossible content ends the poll at once
                    frames += got
        except self._errors as exc:
            line.invalidate()
            self.close()
            raise SourceUnavailable(f"{self.config.port}: {exc}") from None
        except SourceUnavailable:
            self.close()  # the line was invalidated by another instance: rejoin on reopen
            raise
        return frames

    def _too_long(self, budget: float, detail: str) -> SourceTimeout:
        return SourceTimeout(
            f"poll of board {self.config.address} ({self.config.port}) took longer than {budget:.2g} s "
            f"({POLL_SHARE:g} x the period); {detail}"
        )

    def _frames_wanted(self, data_id: int, frames: list[Frame]) -> int:
        if data_id not in MULTI_FRAME_IDS:
            return 1
        status = next((f for f in frames if f.data_id == 0x94), None)
        if status is None:
            raise SourceTimeout(f"0x{data_id:02X} needs the counts of 0x94, which this poll lacks")
        counts = decode_status(status.data)
        return frames_needed(data_id, counts.cell_count if data_id == 0x95 else counts.probe_count)

    def _ask(self, ex: Exchange, data_id: int, wanted: int, deadline: float, *, learn: bool) -> list[Frame]:
        """One exchange; when learning, up to LEARN_ATTEMPTS tries, and ``[]`` for an id not answered."""
        last: Exception | None = None
        for attempt in range(LEARN_ATTEMPTS if learn else 1):
            if attempt and self.config.bus_gap_s:
                ex.clock.sleep(self.config.bus_gap_s)
            # the unit's latency allowance, plus the wire time of the frames themselves
            reply_s = self.config.timeout + wire_time_s(FRAME_SIZE * wanted, self.config.baudrate)
            ends = min(deadline, ex.clock.now() + reply_s)
            if not learn:
                return exchange(ex, self._assembler, data_id, wanted, ends)
            try:
                return exchange(ex, self._assembler, data_id, wanted, ends)
            except (SourceTimeout, FrameError) as exc:
                last = exc
        if data_id in REQUIRED_IDS:
            raise _Unanswered(data_id, str(last))
        return []

    def _learn(self) -> None:
        try:
            frames = self._poll(READ_IDS, learn=True)
            answered = {frame.data_id for frame in frames}
            for data_id, fallback in FALLBACK_IDS.items():
                if data_id not in answered:
                    answered |= {frame.data_id for frame in self._poll((fallback,), learn=True)}
        except _Unanswered as exc:  # no point asking for the rest
            raise SourceUnavailable(
                f"board {self.config.address} on {self.config.port} does not answer 0x{exc.data_id:02X} "
                f"({POLL_IDS[exc.data_id]}); check the wiring, daly.address and daly.baudrate (last try: "
                f"{exc.why})"
            ) from None
        asked = [FALLBACK_IDS.get(i, i) if i not in answered else i for i in READ_IDS]
        self._ids = tuple(data_id for data_id in asked if data_id in answered)
        silent = tuple(sorted({*READ_IDS, *asked} - answered))
        self.skipped = silent
        if silent and silent != self._logged_skips:
            names = ", ".join(f"0x{i:02X} ({POLL_IDS[i]})" for i in silent)
            self._ctx.logger.warning(
                "daly '%s': board %d does not answer %s; polling without them",
                self._ctx.name, self.config.address, names,
            )  # fmt: skip
        self._logged_skips = silent
