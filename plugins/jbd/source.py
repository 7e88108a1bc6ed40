"""The ``jbd`` source: polls a JBD BMS (0x03 basic info, then 0x04 cells) over any pyserial port or URL.

The only I/O module of the plugin. Each exchange flushes the input, writes the 7-byte request and
feeds what arrives to a :class:`FrameAssembler` (accepting only a reply to that register) until the
reply is complete or ``timeout`` has passed on the injected clock. A complete reply that arrives
sooner than its own wire time after the request was written was already on its way (a late reply to
an earlier request, delivered by a buffering link) and is dropped; this needs the injected clock to
advance with real time while a reply is awaited, as the real one does. :meth:`JbdSource.open` also reads
the hardware name (0x05) for the logs and keeps it in :attr:`JbdSource.hardware_name`.

A vanished port raises :class:`SourceUnavailable` (the engine reopens with backoff); no reply or a
corrupt one :class:`SourceTimeout` or :class:`FrameError`; impossible content :class:`ImplausibleReply`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from gateway_core.errors import FrameError, SourceError, SourceTimeout, SourceUnavailable
from gateway_core.model import BatteryReading
from gateway_core.ptysim import wire_time_s
from gateway_core.roles import PluginContext
from gateway_core.serialbus import line_key

from .assembler import FrameAssembler, Rejection
from .config import JbdConfig
from .decode import BasicInfo, check_reply, decode_basic, decode_cells, decode_name
from .protocol import REG_BASIC, REG_CELLS, REG_NAME, Frame, build_request, register_name
from .reading import to_reading

if TYPE_CHECKING:
    import serial

SIM_SCHEME = "jbdsim://"
#: The port's read timeout, set once at open: a read returns at its first byte or after this slice. An
#: exchange never starts a blocking read that could end past its deadline, so it takes at most
#: ``timeout`` (a reply must be complete within ``timeout`` less one slice).
READ_SLICE_S = 0.02
#: A reply complete sooner than this fraction of its wire time after our request was in flight before it.
EARLY_FACTOR = 0.9
NOT_CORRUPT = ("truncated", "echo", "early")


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
    """Make ``serial.serial_for_url`` understand ``jbdsim://`` (idempotent)."""
    import serial

    if "jbd" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("jbd")


class JbdSource:
    """A :class:`~gateway_core.roles.BmsSource` for JBD / Xiaoxiang / Overkill Solar boards."""

    def __init__(self, config: JbdConfig, ctx: PluginContext) -> None:
        self.config = config
        self._ctx = ctx
        self._port: serial.SerialBase | None = None
        self._assembler = FrameAssembler()
        self._errors: tuple[type[BaseException], ...] = ()
        self.hardware_name: str | None = None
        self.last_basic: BasicInfo | None = None

    @property
    def rejections(self) -> tuple[Rejection, ...]:
        """What the parser dropped during the last exchange, with reasons."""
        return tuple(self._assembler.rejections)

    def resources(self) -> tuple[str, ...]:
        """The serial port this source holds (claimed once per process by the core); none for a
        ``jbdsim://`` simulator, which lives inside this process."""
        if self.config.port.lower().startswith(SIM_SCHEME):
            return ()
        return (f"serial:{line_key(self.config.port)}",)

    def open(self) -> None:
        """Open the port exclusively and read the hardware name. :raises SourceUnavailable:."""
        if self._port is not None:
            return
        import serial

        self._errors = port_errors()
        if self.config.port.lower().startswith(SIM_SCHEME):
            enable_simulator_urls()
        refusals: tuple[type[BaseException], ...] = (*self._errors, ValueError)
        try:
            port = serial.serial_for_url(
                self.config.port,
                baudrate=self.config.baudrate,
                timeout=min(self.config.timeout, READ_SLICE_S),
                write_timeout=self.config.timeout,
                exclusive=True,
                do_not_open=True,
            )
            port.open()
        except refusals as exc:
            raise SourceUnavailable(f"cannot open {self.config.port}: {exc}") from None
        self._port = port
        try:
            self.hardware_name = decode_name(self._ask(REG_NAME).data)
        except SourceUnavailable:
            raise
        except SourceError as exc:
            self.hardware_name = None
            self._ctx.logger.warning("JBD BMS on %s: no hardware name (%s)", self.config.port, exc)
        else:
            self._ctx.logger.info("JBD BMS on %s: %s", self.config.port, self.hardware_name or "(unnamed)")

    def close(self) -> None:
        """Close the port; idempotent, never raises."""
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):  # a pulled adapter may fail even to close
                port.close()

    def read(self) -> BatteryReading:
        """Poll the BMS once (0x03, then 0x04) and return its reading, stamped with the engine clock.

        :raises SourceUnavailable: the port is gone. :raises SourceTimeout: no complete reply in time.
        :raises FrameError: corrupt or refused reply. :raises ImplausibleReply: impossible content.
        """
        basic, cells = self.poll()
        return to_reading(
            basic, cells, self._ctx.name, self._ctx.clock.now(), invert_current=self.config.invert_current
        )

    def poll(self) -> tuple[BasicInfo, tuple[float, ...]]:
        """Ask for 0x03 and 0x04 and decode both (same errors as :meth:`read`)."""
        basic = decode_basic(self._ask(REG_BASIC).data)
        self.last_basic = basic
        cells = decode_cells(self._ask(REG_CELLS).data)
        return basic, cells

    def _ask(self, register: int) -> Frame:
        port = self._port
        if port is None:
            raise SourceUnavailable(f"{self.config.port} is not open")
        try:
            frame = self._exchange(port, register)
        except self._errors as exc:
            self.close()
            raise SourceUnavailable(f"{self.config.port}: {exc}") from None
        check_reply(frame, register)
        return frame

    def _exchange(self, port: Any, register: int) -> Frame:
        clock = self._ctx.clock
        timeout = self.config.timeout
        request = build_request(register)
        self._assembler.reset(expect=register)
        port.reset_input_buffer()
        written_at = clock.now()  # before the write: a thread switch after it must not shorten the wait
        port.write(request)
        deadline = written_at + timeout
        received = 0
        slice_s = port.timeout or READ_SLICE_S
        idle_s = 0.0  # silent slices also bound the wait, whatever the injected clock does
        while (now := clock.now()) < deadline and idle_s < timeout:
            waiting = port.in_waiting
            if not waiting and now + slice_s > deadline:
                break  # a blocking read would overrun the deadline by up to a slice
            data = port.read(waiting or 1)  # returns at the first byte, or after one slice
            if not data:
                idle_s += slice_s
                continue
            received += len(data)
            frame = self._on_time(self._assembler.feed(data), request, written_at)
            if frame is not None:
                return frame
        frame = self._on_time(self._assembler.expire(), request, written_at)
        if frame is not None:
            return frame
        raise self._no_reply(register, timeout, received)

    def _on_time(self, frames: list[Frame], request: bytes, written_at: float) -> Frame | None:
        """The first of ``frames`` that took at least its wire time; earlier ones are recorded as late."""
        elapsed = self._ctx.clock.now() - written_at
        for frame in frames:
            wire = wire_time_s(len(request) + len(frame.raw), self.config.baudrate)
            if elapsed >= wire * EARLY_FACTOR:
                return frame
            self._assembler.note(
                Rejection(
                    "early",
                    f"a complete reply {elapsed * 1000:.0f} ms after the request, sooner than its "
                    f"{wire * 1000:.0f} ms on the wire: a late reply to an earlier request",
                    len(frame.raw),
                )
            )
        return None

    def _no_reply(self, register: int, timeout: float, received: int) -> SourceError:
        rejections = self._assembler.rejections
        where = f"{register_name(register)} from {self.config.port}, {timeout:g} s"
        unsupported = [r for r in rejections if r.reason == "unsupported"]
        if unsupported:
            return FrameError(f"no valid reply ({where}): {unsupported[0].detail}")
        reasons = [r.reason for r in rejections]
        # what follows a dropped, truncated candidate is its own tail: not evidence of corruption
        cut = reasons.index("truncated") if "truncated" in reasons else len(rejections)
        corrupt = [r for r in rejections[:cut] if r.reason not in NOT_CORRUPT]
        if corrupt:
            details = "; ".join(dict.fromkeys(r.detail for r in corrupt[-3:]))
            return FrameError(f"no valid reply ({where}): {details}")
        if "early" in reasons:
            late = next(r for r in rejections if r.reason == "early")
            return SourceTimeout(f"no reply in time ({where}): {late.detail}")
        if cut < len(rejections):
            return SourceTimeout(f"incomplete reply ({where}): {rejections[cut].detail}")
        if "echo" in reasons:
            return SourceTimeout(f"no reply ({where}): only our request came back (RS485 echo)")
        if received:
            return SourceTimeout(f"incomplete reply ({where}): {received} bytes")
        return SourceTimeout(f"no reply ({where})")
