"""The ``jk_uart`` source: polls a JK BMS over any pyserial port or URL, within a deadline per reply.

The only I/O module of the plugin. Each :meth:`JkUartSource.read` flushes the input, writes the
21-byte read-all request and feeds what arrives to a :class:`FrameAssembler` until a reply frame is
complete (returning at once) or ``timeout`` has passed on the injected clock. Only a frame that can
answer this request counts (:mod:`jk_uart.matching`: not an echo, the same command, and not complete
sooner than its wire time after the request, measured on the real monotonic clock since it is a
physical bound). A vanished port (adapter unplugged) raises :class:`SourceUnavailable`: the engine
closes the source and reopens it with backoff, logging once per outage. A missing or corrupt reply
raises :class:`SourceTimeout` or :class:`FrameError`, an impossible one :class:`ImplausibleReply`;
either way the engine has no reading and fails safe.

A device path is opened exclusively (``flock``), so a second gateway, or any other program that
locks, cannot poll the same BMS; :meth:`JkUartSource.resources` names the port for the core's claim.
The reply deadline is ``timeout``, but at most :data:`READ_SHARE` of the cycle period (warned once).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway_core.errors import FrameError, SourceError, SourceTimeout, SourceUnavailable
from gateway_core.model import BatteryReading
from gateway_core.roles import PluginContext

from .config import JkUartConfig
from .decode import JkStatus, decode_frame
from .matching import pick_reply
from .protocol import COMMAND_READ_ALL, Frame, FrameAssembler, Rejection, build_request
from .reading import is_booting, to_reading

if TYPE_CHECKING:
    import serial

SIM_SCHEME = "jksim://"
#: The port's read timeout, set once at open: a read returns at its first byte or after this slice
#: (at most a fifth of the reply deadline), and the loop checks the deadline between slices, so a read
#: ends at most one slice late. Changing ``port.timeout`` per read would reprogram the adapter
#: (tcsetattr) several times per cycle.
READ_SLICE_S = 0.05
SLICES_PER_DEADLINE = 5
#: The longest reply deadline, as a share of the cycle period: the engine's lane deadline is 0.8 x
#: period; a read may end one slice (a fifth) late, and decoding and the policy need the rest.
READ_SHARE = 0.6


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

    def __init__(
        self, config: JkUartConfig, ctx: PluginContext, *, wire_clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._ctx = ctx
        self._wire_clock = wire_clock
        self._port: serial.SerialBase | None = None
        self._request = build_request(source=config.source_byte, command=COMMAND_READ_ALL)
        self._assembler = FrameAssembler()
        self._errors: tuple[type[BaseException], ...] = ()
        self.timeout_s = reply_deadline(config.timeout, ctx)
        self.last_status: JkStatus | None = None

    def resources(self) -> tuple[str, ...]:
        """The port this source polls, for the core's one-gateway-per-port claim (none for ``jksim://``)."""
        return port_resources(self.config.port)

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
        exclusive = {} if "://" in self.config.port else {"exclusive": True}
        try:
            port = serial.serial_for_url(
                self.config.port,
                baudrate=self.config.baudrate,
                timeout=min(self.timeout_s / SLICES_PER_DEADLINE, READ_SLICE_S),
                write_timeout=self.timeout_s,
                do_not_open=True,
                **exclusive,
            )
            port.open()
        except refusals as exc:
            if "exclusively lock" in str(exc):
                raise SourceUnavailable(
                    f"cannot open {self.config.port}: another program holds it (a second gateway?)"
                ) from None
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
        timeout = self.timeout_s
        self._assembler.reset()
        port.reset_input_buffer()
        sent_at = self._wire_clock()
        port.write(self._request)
        deadline = clock.now() + timeout
        skipped = Skipped()
        idle_s = 0.0  # silent slices also bound the wait, whatever the injected clock does
        frame: Frame | None = None
        while frame is None and clock.now() < deadline and idle_s < timeout:
            data = port.read(port.in_waiting or 1)  # returns at the first byte, or after one slice
            if not data:
                idle_s += port.timeout or READ_SLICE_S
                continue
            skipped.received += len(data)
            frame = self._pick(self._assembler.feed(data), sent_at, skipped)
        if frame is None:
            frame = self._pick(self._assembler.expire(), sent_at, skipped)
        if frame is not None:
            return frame
        raise self._no_reply(timeout, skipped)

    def _pick(self, frames: list[Frame], sent_at: float, skipped: Skipped) -> Frame | None:
        pick = pick_reply(
            frames,
            command=COMMAND_READ_ALL,
            request_len=len(self._request),
            elapsed_s=self._wire_clock() - sent_at,
            baud=self.config.baudrate,
        )
        skipped.echoes += pick.echoes
        skipped.foreign += pick.foreign
        skipped.early += pick.early
        return pick.reply

    def _no_reply(self, timeout: float, skipped: Skipped) -> SourceError:
        rejections = self._assembler.rejections
        reasons = [r.reason for r in rejections]
        # what follows a dropped, truncated candidate is its own tail: not evidence of corruption
        first_truncated = reasons.index("truncated") if "truncated" in reasons else len(rejections)
        corrupt = rejections[:first_truncated]
        where = f"{self.config.port}, {timeout:g} s"
        if corrupt:
            details = "; ".join(dict.fromkeys(r.detail for r in corrupt[-3:]))
            return FrameError(f"no valid reply ({where}): {details}")
        if skipped.early:
            return SourceTimeout(
                f"no fresh reply ({where}): {skipped.early} complete frame(s) arrived sooner than their "
                "wire time after the request, so they answered an earlier one (a link that buffers replies?)"
            )
        if rejections:
            return SourceTimeout(f"incomplete reply ({where}): {rejections[first_truncated].detail}")
        if skipped.foreign:
            return SourceTimeout(
                f"no reply ({where}): only replies to another command came (another master on the bus?)"
            )
        if skipped.echoes:
            return SourceTimeout(f"no reply ({where}): only our request came back (RS485 echo)")
        if skipped.received:
            return SourceTimeout(f"incomplete reply ({where}): {skipped.received} bytes")
        return SourceTimeout(f"no reply ({where})")


@dataclass
class Skipped:
    """What one exchange received that was not the reply: bytes, echoes, foreign and early frames."""

    received: int = 0
    echoes: int = 0
    foreign: int = 0
    early: int = 0


def reply_deadline(timeout_s: float, ctx: PluginContext) -> float:
    """``timeout_s``, capped at :data:`READ_SHARE` of the cycle period (with one warning when capped).

    A reply slower than the engine's lane deadline (0.8 x period) is a timeout stop however long the
    source would wait, so waiting longer only delays the next cycle.
    """
    limit = round(READ_SHARE * ctx.period_s, 3)
    if timeout_s <= limit:
        return timeout_s
    ctx.logger.warning(
        "timeout = %g s is longer than the cycle allows (0.8 x period = %g s is the deadline of a "
        "whole read); waiting at most %g s for each reply",
        timeout_s,
        0.8 * ctx.period_s,
        limit,
    )
    return limit


def port_resources(port: str) -> tuple[str, ...]:
    """``("serial:<real path>",)`` for a device or remote URL; nothing for the in-process ``jksim://``."""
    if port.lower().startswith(SIM_SCHEME):
        return ()
    from gateway_core.serialbus import line_key

    return (f"serial:{line_key(port)}",)
