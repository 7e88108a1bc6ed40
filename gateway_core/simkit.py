"""What a plugin's simulator offers the shared contract tests and the demo (protocols only).

A source plugin registers ``simulator=make`` with its source; ``make(cells)`` returns a
:class:`SimulatedDevice`: a BMS at the byte level that answers the gateway's requests with timed
:class:`Chunk` lists, and can be told to misbehave. :class:`gateway_core.ptysim.PtyServer` serves any
such device on a pseudo-terminal, so the real source code reads it through a real tty.

A sink plugin registers ``simulator=make`` with its sink; ``make()`` returns a :class:`SimulatedPeer`:
the inverter's side of the link, which reports what each message it received permits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

#: Faults every :class:`SimulatedDevice` injects. A source must fail safe on ``silence``,
#: ``garbage``, ``bad_checksum`` and a ``trickle`` slower than its deadline; it must raise
#: :class:`~gateway_core.errors.ImplausibleReply` on ``nonsense`` (valid framing and checksum,
#: impossible content); and it must read through ``split``, ``noise`` (garbage, then the frame) and
#: ``echo`` (the request echoed first, as a half-duplex RS485 adapter does).
FAULTS = ("silence", "garbage", "bad_checksum", "nonsense", "split", "trickle", "noise", "echo")


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes a transport sends after waiting ``delay_s``."""

    delay_s: float
    data: bytes


@runtime_checkable
class SimulatedDevice(Protocol):
    """A simulated BMS speaking its real byte protocol (pure: no port, no clock)."""

    unplugged: bool
    requests: int  # complete requests understood so far

    def respond(self, data: bytes) -> list[Chunk]:
        """Feed bytes the gateway sent; return what the device sends back (may be empty)."""
        ...

    def step(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds of battery life pass (SOC, cells, temperature drift)."""
        ...

    def inject(self, fault: str, count: int | None = None) -> None:
        """Misbehave with ``fault`` (one of :data:`FAULTS`) for ``count`` replies (``None``: for ever)."""
        ...

    def clear_faults(self) -> None:
        """Answer correctly again."""
        ...

    def unplug(self) -> None:
        """Vanish like a pulled USB adapter (the pty server closes the tty)."""
        ...

    def plug(self) -> None:
        """Come back after :meth:`unplug`."""
        ...

    def set_cell_count(self, cells: int) -> None:
        """From the next reply on, report ``cells`` cells in a self-consistent reply."""
        ...

    def source_settings(self, port: str) -> dict[str, Any]:
        """The source's config keys that read this device on ``port`` (``{"port": port, ...}``)."""
        ...


@dataclass(frozen=True, slots=True)
class Grant:
    """What one message received by a simulated inverter permits (magnitudes in A, volts or None)."""

    charge_current_a: float
    discharge_current_a: float
    charge_voltage_v: float | None = None
    discharge_voltage_v: float | None = None

    @property
    def permits(self) -> bool:
        """True when the message allows charging or discharging."""
        return self.charge_current_a > 0 or self.discharge_current_a > 0


@runtime_checkable
class SimulatedPeer(Protocol):
    """The inverter's side of a sink's link, for the shared sink contract tests."""

    def sink_settings(self) -> dict[str, Any]:
        """The sink's config keys that reach this peer (e.g. a private virtual CAN channel)."""
        ...

    def grants(self) -> list[Grant]:
        """Drain what the permission-bearing messages received so far allow, in arrival order."""
        ...

    def close(self) -> None:
        """Release the peer's link; idempotent."""
        ...
