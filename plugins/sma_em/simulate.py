"""A simulated SMA Energy Meter for tests and ``gateway demo --meter``: real datagrams, sent unicast.

:func:`datagram` builds one datagram from a signed grid power (+ = import); :class:`OscillatingPair`
is the grid power two inverters produce while they push a battery back and forth (+600 W, then
-600 W, every few seconds); :class:`UnicastSender` sends one datagram per period to an address.
Send only to 127.0.0.1 in tests: never to the multicast group or the LAN.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
from collections.abc import Callable, Iterator, Sequence

from .encode import SUSY_EM10, encode, split_power

#: The serial number the simulated meter reports.
SIM_SERIAL = 1_901_000_001


def datagram(
    serial: int = SIM_SERIAL,
    import_w: float = 0.0,
    export_w: float = 0.0,
    phases: Sequence[float] = (),
    *,
    energy_import_kwh: float = 0.0,
    energy_export_kwh: float = 0.0,
    ticker_ms: int = 0,
    frequency_hz: float | None = None,
    susy_id: int = SUSY_EM10,
) -> bytes:
    """One energy meter datagram; ``phases`` are signed powers (+ = import) of L1, L2, L3."""
    return encode(
        serial,
        import_w,
        export_w,
        [split_power(p) for p in phases],
        energy_import_kwh=energy_import_kwh,
        energy_export_kwh=energy_export_kwh,
        frequency_hz=frequency_hz,
        ticker_ms=ticker_ms % 2**32,
        susy_id=susy_id,
    )


def grid_datagram(power_w: float, *, serial: int = SIM_SERIAL, ticker_ms: int = 0) -> bytes:
    """A datagram for a signed grid power, split evenly over three phases."""
    imp, exp = split_power(power_w)
    return datagram(serial, imp, exp, [power_w / 3] * 3, ticker_ms=ticker_ms, frequency_hz=50.0)


class OscillatingPair:
    """Grid power while two inverters push a battery back and forth: ``base_w`` +/- ``amplitude_w``.

    The sign flips every ``swing_s`` seconds; iterating yields the power every ``step_s`` seconds
    (+600, +600, +600, -600, -600, -600, +600, ... with the defaults).
    """

    def __init__(
        self, amplitude_w: float = 600.0, swing_s: float = 3.0, base_w: float = 0.0, step_s: float = 1.0
    ) -> None:
        if swing_s <= 0 or step_s <= 0:
            raise ValueError("swing_s and step_s must be positive")
        self.amplitude_w = amplitude_w
        self.swing_s = swing_s
        self.base_w = base_w
        self.step_s = step_s

    def power_at(self, t_s: float) -> float:
        """The grid power ``t_s`` seconds after the start (W, + = import)."""
        sign = 1.0 if math.floor(t_s / self.swing_s + 1e-9) % 2 == 0 else -1.0
        return self.base_w + sign * self.amplitude_w

    def __iter__(self) -> Iterator[float]:
        step = 0
        while True:
            yield self.power_at(step * self.step_s)
            step += 1


class UnicastSender:
    """Sends ``grid_datagram(power())`` to ``address`` every ``period_s`` on a daemon thread."""

    def __init__(
        self,
        address: tuple[str, int],
        power: Callable[[], float] | OscillatingPair | None = None,
        *,
        period_s: float = 1.0,
        serial: int = SIM_SERIAL,
    ) -> None:
        values = iter(power if isinstance(power, OscillatingPair) else OscillatingPair())
        self._power: Callable[[], float] = power if callable(power) else lambda: next(values)
        self.address = address
        self.period_s = period_s
        self.serial = serial
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send_once(self) -> float:
        """Send one datagram now; returns the power it carried."""
        power = self._power()
        ticker = int(self.sent * self.period_s * 1000)
        self._sock.sendto(grid_datagram(power, serial=self.serial, ticker_ms=ticker), self.address)
        self.sent += 1
        return power

    def start(self) -> UnicastSender:
        """Start sending in the background."""
        self._thread = threading.Thread(target=self._run, name="sma_em-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending and close the socket; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):  # nobody listening yet: UDP does not care, neither do we
                self.send_once()
            self._stop.wait(self.period_s)
