"""The ``sma_em`` grid meter: a UDP socket and a receiver thread, off the control loop.

:meth:`SmaEmMeter.open` binds ``listen`` (joining ``group`` unless it is ``""``) and starts a daemon
thread that decodes every datagram and keeps the newest value of the chosen meter. :meth:`latest`
only returns that value (the engine calls it once per cycle): it never blocks and never does I/O.
Silence changes nothing: the last value keeps its old ``taken_at_s`` and the engine treats it as
absent once it is older than ``gateway.meter_stale_after``.

A receive error (the network went down) is logged once and retried every :data:`RETRY_S`; the value
ages out meanwhile. Refused datagrams (another protocol, truncated, ...) are logged once per reason,
then at most every :data:`LOG_EVERY_S` with a count. With ``serial = 0`` the first meter heard is
used; datagrams from any other serial are ignored, with one warning per serial (two meters' values
must never mix).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading

from gateway_core.errors import StartupError
from gateway_core.model import MeterReading
from gateway_core.roles import PluginContext

from .config import SmaEmConfig
from .reading import to_meter_reading
from .speedwire import SpeedwireError, decode

#: Largest datagram read (an EM sends 600 or 608 bytes); longer ones are cut and then refused.
MAX_DATAGRAM = 2048
#: How often the receiver looks at its stop flag while no datagram arrives.
POLL_S = 0.2
#: Pause after a receive error before the next try.
RETRY_S = 1.0
#: A repeated refusal is logged again at most this often (with the count since).
LOG_EVERY_S = 300.0
#: Reasons that are ordinary traffic on the Speedwire port (inverters, discovery): logged at INFO.
OTHER_TRAFFIC = ("foreign", "protocol")
#: Longest ``close()`` waits for the receiver thread.
CLOSE_WAIT_S = 2.0


def open_socket(config: SmaEmConfig) -> socket.socket:
    """A bound UDP socket (joined to the group unless it is ``""``). :raises StartupError: one line."""
    host, port = config.address
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from None
    if config.group:
        membership = struct.pack(
            "4s4s", socket.inet_aton(config.group), socket.inet_aton(config.interface or "0.0.0.0")
        )
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        except OSError as exc:
            sock.close()
            raise StartupError(
                f"cannot join multicast group {config.group}: {exc.strerror or exc} "
                '(no network yet? group = "" receives unicast only)'
            ) from None
    return sock


class SmaEmMeter:
    """A :class:`~gateway_core.roles.GridMeter` for an SMA Energy Meter or Sunny Home Manager."""

    def __init__(self, config: SmaEmConfig, ctx: PluginContext) -> None:
        self.config = config
        self._ctx = ctx
        self._log = ctx.logger
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._latest: MeterReading | None = None
        self._serial = config.serial or None
        self._ignored: set[int] = set()
        self._refusals: dict[str, tuple[float, int]] = {}  # reason -> (last logged at, count since)
        self.accepted = 0
        self.refused = 0

    def open(self) -> None:
        """Bind the socket and start the receiver thread. :raises StartupError: cannot listen or join."""
        if self._thread is not None:
            return
        sock = open_socket(self.config)
        self._stop.clear()
        self._sock = sock
        self._thread = threading.Thread(
            target=self._receive, args=(sock,), name=f"{self._ctx.name}-rx", daemon=True
        )
        self._thread.start()
        where = f"group {self.config.group}" if self.config.group else "unicast only"
        self._log.info("listening on %s (%s)", self.config.listen, where)

    def latest(self) -> MeterReading | None:
        """The newest value of the chosen meter, or ``None`` before the first; never blocks."""
        return self._latest

    def close(self) -> None:
        """Stop the receiver and close the socket (leaving the group); idempotent, never raises."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(CLOSE_WAIT_S)
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    # -- the receiver thread -------------------------------------------------------------------

    def _receive(self, sock: socket.socket) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], POLL_S)
                if not ready:
                    continue
                data, sender = sock.recvfrom(MAX_DATAGRAM)
            except ValueError:  # the socket was closed under us (close())
                return
            except OSError as exc:  # the network failed (ENETDOWN ...): keep trying, the value ages out
                if not failing and not self._stop.is_set():
                    self._log.warning("receiving failed: %s; retrying (the meter is absent meanwhile)", exc)
                failing = True
                self._stop.wait(RETRY_S)
                continue
            if failing:
                self._log.warning("receiving again")
                failing = False
            try:
                self.take(data, sender[0], self._ctx.clock.now())
            except Exception as exc:  # never let one datagram end the receiver
                self._log.error("a datagram from %s broke the decoder: %r", sender[0], exc)

    def take(self, data: bytes, sender: str, now: float) -> MeterReading | None:
        """Decode one datagram received at ``now``; keep it when it is the chosen meter's."""
        try:
            datagram = decode(data)
        except SpeedwireError as exc:
            self._refuse(exc, sender, now)
            return None
        if self._serial is None:
            self._serial = datagram.serial
            self._log.info("using meter %d (%s)", datagram.serial, sender)
        if datagram.serial != self._serial:
            if datagram.serial not in self._ignored:
                self._ignored.add(datagram.serial)
                self._log.warning(
                    "ignoring meter %d at %s; using meter %d (set %s.serial to choose)",
                    datagram.serial,
                    sender,
                    self._serial,
                    self._ctx.name,
                )
            return None
        reading = to_meter_reading(datagram, f"{self._ctx.name}:{datagram.serial}", now)
        self._latest = reading
        self.accepted += 1
        return reading

    def _refuse(self, exc: SpeedwireError, sender: str, now: float) -> None:
        last, count = self._refusals.get(exc.reason, (None, 0))
        if last is not None and now - last < LOG_EVERY_S:
            self._refusals[exc.reason] = (last, count + 1)
            self.refused += 1
            return
        self._refusals[exc.reason] = (now, 0)
        more = f" ({count} more since the last report)" if count else ""
        level = logging.INFO if exc.reason in OTHER_TRAFFIC else logging.WARNING
        self._log.log(level, "datagram from %s refused (%s): %s%s", sender, exc.reason, exc, more)
        self.refused += 1  # counted once handled (tests wait on it)
