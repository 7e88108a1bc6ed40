"""The ``jk_uart`` source: polls a JK BMS over any pyserial port or URL, within a deadline per reply.

The only I/O module of the plugin. Each :meth:`JkUartSource.read` flushes the input, writes the
21-byte read-all request and feeds what arrives to a :class:`FrameAssembler` until a reply frame is
complete (returning at once) or ``timeout`` has passed on the injected clock. A vanished port
(adapter unplugged) raises :class:`SourceUnavailable`: the engine closes the source and reopens it
with backoff, logging once per outage. A missing or corrupt reply raises :class:`SourceTimeout` or
:class:`FrameError`; either way the engine has no reading and fails safe.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from gateway_core.errors import FrameError, SourceError, SourceTimeout, SourceUnavailable
from gateway_core.model import BatteryReading
from gateway_core.roles import PluginContext

from .config import JkUartConfig
from .decode import JkStatus, decode_frame
from .protocol import Frame, FrameAssembler, Rejection, build_request
from .reading import is_booting, to_reading

if TYPE_CHECKING:
    import serial

SIM_SCHEME = "jksim://"
#: The port's read timeout, set once at open: a read returns at its first byte or after this slice,
#: and the loop checks the reply's deadline between slices. Changing ``port.timeout`` per read would
#: reprogram the adapter (tcsetattr) several times per cycle.
READ_SLICE_S = 0.05


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
    """Make ``serial.serial_for_url`` understand ``jksim://`` (idempotent)."""
    import serial

    if "jk_uart" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("jk_uart")


class JkUartSource:
    """A :class:`~gateway_core.roles.BmsSource` for JK BMS boards speaking "4E 57" over UART/RS485."""

    def __init__(self, config: JkUartConfig, ctx: PluginContext) -> None:
        self.config = config
        self._ctx = ctx
        self._port: serial.SerialBase | None = None
        self._request = build_request(source=config.source_byte)
        self._assembler = FrameAssembler()
        self._errors: tuple[type[BaseException], ...] = ()
        self.last_status: JkStatus | None = None

    @property
    def rejections(self) -> tuple[Rejection, ...]:
        """What the parser dropped during the last read, with reasons."""
        return tuple(self._assembler.rejections)

    def open(self) -> None:
        """Open the port. :raises SourceUnavailable: missing device, busy port or bad URL."""
        if self._port is not None:
            return
        import serial

        self._errors = port_errors()
        refusals: tuple[type[BaseException], ...] = (*self._errors, ValueError)
        if self.config.port.lower().startswith(SIM_SCHEME):
            enable_simulator_urls()
        try:
            port = serial.serial_for_url(
                self.config.port,
                baudrate=self.config.baudrate,
                timeout=min(self.config.timeout, READ_SLICE_S),
                write_timeout=self.config.timeout,
                do_not_open=True,
            )
            port.open()
        except refusals as exc:
            raise SourceUnavailable(f"cannot open {self.config.port}: {exc}") from None
        if self.config.rs485:
            try:
                import serial.rs485

                port.rs485_mode = serial.rs485.RS485Settings()
            except refusals as exc:
                port.close()
                raise SourceUnavailable(f"cannot enable RS485 mode on {self.config.port}: {exc}") from None
        self._port = port

    def close(self) -> None:
        """Close the port; idempotent, never raises."""
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):  # a pulled adapter may fail even to close
                port.close()

    def read(self) -> BatteryReading:
        """Poll the BMS once and return its reading, stamped with the engine clock.

        :raises SourceUnavailable: the port is gone. :raises SourceTimeout: no complete reply in time.
        :raises FrameError: corrupt reply. :raises SourceError: the BMS is still booting.
        """
        status = self.read_status()
        taken_at = self._ctx.clock.now()
        if self.config.boot_check and is_booting(status):
            raise SourceError("JK BMS reports SOC 0 % with 0 cycles: still booting (~16 s after power-up)")
        return to_reading(status, self._ctx.name, taken_at, invert_current=self.config.invert_current)

    def read_status(self) -> JkStatus:
        """Poll the BMS once and return the decoded reply (same errors as :meth:`read`)."""
        port = self._port
        if port is None:
            raise SourceUnavailable(f"{self.config.port} is not open")
        try:
            frame = self._exchange(port)
        except self._errors as exc:
            self.close()
            raise SourceUnavailable(f"{self.config.port}: {exc}") from None
        status = decode_frame(frame)
        self.last_status = status
        return status

    def _exchange(self, port: Any) -> Frame:
        clock = self._ctx.clock
        timeout = self.config.timeout
        self._assembler.reset()
        port.reset_input_buffer()
        port.write(self._request)
        deadline = clock.now() + timeout
        received = echoed = 0
        idle_s = 0.0  # silent slices also bound the wait, whatever the injected clock does
        frame: Frame | None = None
        while frame is None and clock.now() < deadline and idle_s < timeout:
            data = port.read(port.in_waiting or 1)  # returns at the first byte, or after one slice
            if not data:
                idle_s += port.timeout or READ_SLICE_S
                continue
            received += len(data)
            frame, skipped = _reply(self._assembler.feed(data))
            echoed += skipped
        if frame is None:
            frame, skipped = _reply(self._assembler.expire())
            echoed += skipped
        if frame is not None:
            return frame
        raise self._no_reply(timeout, received, echoed)

    def _no_reply(self, timeout: float, received: int, echoed: int) -> SourceError:
        rejections = self._assembler.rejections
        reasons = [r.reason for r in rejections]
        # what follows a dropped, truncated candidate is its own tail: not evidence of corruption
        first_truncated = reasons.index("truncated") if "truncated" in reasons else len(rejections)
        corrupt = rejections[:first_truncated]
        where = f"{self.config.port}, {timeout:g} s"
        if corrupt:
            details = "; ".join(dict.fromkeys(r.detail for r in corrupt[-3:]))
            return FrameError(f"no valid reply ({where}): {details}")
        if rejections:
            return SourceTimeout(f"incomplete reply ({where}): {rejections[first_truncated].detail}")
        if echoed:
            return SourceTimeout(f"no reply ({where}): only our request came back (RS485 echo)")
        if received:
            return SourceTimeout(f"incomplete reply ({where}): {received} bytes")
        return SourceTimeout(f"no reply ({where})")


def _reply(frames: list[Frame]) -> tuple[Frame | None, int]:
    """The first reply among ``frames`` and how many requests (echoes) came before it."""
    echoes = 0
    for frame in frames:
        if frame.is_request:
            echoes += 1
            continue
        return frame, echoes
    return None, echoes
