"""The typed roles plugins fill, and the callbacks through which they register them.

A plugin registers a *factory* per role: ``factory(config, ctx) -> object``. Factories do no I/O;
I/O starts in ``open()``, and a reopen is ``close()`` then ``open()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .clock import Clock
from .model import BatteryReading, CycleResult, GatewayState, Limits, MeterReading, PublishReport


@dataclass(frozen=True, slots=True)
class PluginContext:
    """What a plugin object gets besides its config.

    ``name`` is the instance name (the config section, e.g. ``pack1``); ``plugin`` the registered
    plugin it is an instance of (``jk_uart``; equal to ``name`` for a plain ``[jk_uart]`` section).
    ``clock`` is the injected clock, ``logger`` the object's logger, ``period_s`` the cycle period.
    A policy built for one pack of a bank has ``pack`` set to that source's instance name.
    """

    name: str
    clock: Clock
    logger: logging.Logger
    plugin: str = ""
    period_s: float = 1.0
    pack: str = ""


@runtime_checkable
class BmsSource(Protocol):
    """Reads the battery from a BMS.

    A source (and a sink) may also have ``resources() -> tuple[str, ...]``: the ports it uses (e.g.
    ``("serial:/dev/ttyUSB0",)``). The gateway claims each for the process at start-up and refuses to
    start when another gateway holds one; instances of one process share a claim.
    """

    def open(self) -> None:
        """Start I/O (open the port). :raises SourceUnavailable: the link cannot be opened."""
        ...

    def read(self) -> BatteryReading:
        """Return a fresh reading, within the source's own deadline.

        :raises SourceError: no reading this cycle (``SourceUnavailable`` makes the engine reopen).
        """
        ...

    def close(self) -> None:
        """Release the link; idempotent, never raises."""
        ...


@runtime_checkable
class LimitPolicy(Protocol):
    """Decides the charge and discharge limits from a plausible, fresh reading."""

    def decide(self, reading: BatteryReading, state: GatewayState) -> Limits:
        """Return the limits for ``reading``. :raises PolicyError: cannot decide (stop limits follow)."""
        ...


@runtime_checkable
class InverterSink(Protocol):
    """Tells the inverter the battery's state and the limits."""

    def open(self) -> None:
        """Start I/O (open the bus). :raises SinkUnavailable: the link cannot be opened."""
        ...

    def publish(self, reading: BatteryReading | None, limits: Limits) -> PublishReport:
        """Send ``limits`` and, when not ``None``, ``reading`` (what the limits rest on).

        ``reading`` is ``None`` when no valid reading backs the limits (they are stop limits then).
        :raises SinkError: nothing was published; the engine closes and reopens with backoff.
        """
        ...

    def close(self) -> None:
        """Release the link; idempotent, never raises."""
        ...


@runtime_checkable
class CycleObserver(Protocol):
    """Watches completed cycles (MQTT, metrics); registered as a pluggy plugin for the run.

    An observer may also have an ``open()``: it is called once before the first cycle, and an
    exception there refuses the start (exit 2), e.g. a metrics port that is taken.
    """

    def gateway_cycle_completed(self, result: CycleResult) -> None:
        """Take one cycle's result; runs on the observer thread and must return fast."""
        ...

    def close(self) -> None:
        """Release resources at shutdown; idempotent."""
        ...


@runtime_checkable
class GridMeter(Protocol):
    """A grid meter that pushes its values (multicast, MQTT); it runs its own receiver thread.

    The engine takes :meth:`latest` once per cycle; it must return at once and never block.
    """

    def open(self) -> None:
        """Start receiving (bind the socket, subscribe). :raises StartupError: cannot start at all."""
        ...

    def latest(self) -> MeterReading | None:
        """The newest value received, or ``None`` before the first one; never blocks."""
        ...

    def close(self) -> None:
        """Stop receiving; idempotent, never raises."""
        ...


Factory = Callable[[Any, PluginContext], Any]


class Register(Protocol):
    """The callback a registration hook receives: ``register(name, factory, config=..., description=...)``.

    ``name`` is unique across all roles and is also the plugin's config section. ``config`` is a
    frozen dataclass declared with :func:`gateway_core.settings.setting` fields. ``simulator`` (optional)
    makes what the shared contract tests and the demo drive the plugin with: for a source,
    ``simulator(cells)`` returns a :class:`gateway_core.simkit.SimulatedDevice`; for a sink,
    ``simulator()`` returns a :class:`gateway_core.simkit.SimulatedPeer`.
    """

    def __call__(
        self,
        name: str,
        factory: Factory,
        *,
        config: type | None = None,
        description: str = "",
        simulator: Callable[..., Any] | None = None,
    ) -> None: ...


RegisterSource = Register
RegisterPolicy = Register
RegisterSink = Register
RegisterObserver = Register
RegisterMeter = Register
