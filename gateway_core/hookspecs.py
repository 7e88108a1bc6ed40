"""The hooks a battery-gateway plugin can implement (pluggy project ``battery_gateway``).

Hooks register, objects work: the registration hooks run once at start-up and hand factories to
the core; the cycle then calls the typed objects those factories build. Plugins write::

    from gateway_core import hookimpl

    @hookimpl
    def gateway_register_sources(register):
        register("my_bms", build, config=MyConfig, description="My BMS over Modbus")

An implementation may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from .model import BatteryReading, CycleResult, GatewayState, Limits
    from .roles import Register

PROJECT = "battery_gateway"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gateway_register_sources(register: Register) -> None:
    """Register BMS sources: objects that read the battery.

    Called: once at start-up, on the main thread, before the config is read.
    :param register: call ``register(name, factory, config=ConfigClass, description="...")`` once per
        source; ``factory(config, ctx)`` returns a :class:`~gateway_core.roles.BmsSource` and does no I/O.
    :returns: nothing; ignored.
    :raises: the gateway refuses to start (exit 2) and names the plugin.
    """


@hookspec
def gateway_register_policies(register: Register) -> None:
    """Register limit policies: objects that decide charge and discharge limits.

    Called: once at start-up, on the main thread, before the config is read.
    :param register: call ``register(name, factory, config=ConfigClass, description="...")`` once per
        policy; ``factory(config, ctx)`` returns a :class:`~gateway_core.roles.LimitPolicy`.
    :returns: nothing; ignored.
    :raises: the gateway refuses to start (exit 2) and names the plugin.
    """


@hookspec
def gateway_register_sinks(register: Register) -> None:
    """Register inverter sinks: objects that tell the inverter the battery's state and limits.

    Called: once at start-up, on the main thread, before the config is read.
    :param register: call ``register(name, factory, config=ConfigClass, description="...")`` once per
        sink; ``factory(config, ctx)`` returns an :class:`~gateway_core.roles.InverterSink` and does no I/O.
    :returns: nothing; ignored.
    :raises: the gateway refuses to start (exit 2) and names the plugin.
    """


@hookspec
def gateway_register_observers(register: Register) -> None:
    """Register cycle observers (MQTT, metrics) that users enable with ``gateway.observers``.

    Called: once at start-up, on the main thread, before the config is read.
    :param register: call ``register(name, factory, config=ConfigClass, description="...")`` once per
        observer; ``factory(config, ctx)`` returns an object with a ``gateway_cycle_completed(result)``
        method and a ``close()``; the core registers it as a plugin for the run.
    :returns: nothing; ignored.
    :raises: the gateway refuses to start (exit 2) and names the plugin.
    """


@hookspec
def gateway_register_meters(register: Register) -> None:
    """Register grid meters: objects that receive the grid power (SMA Energy Meter, MQTT).

    Called: once at start-up, on the main thread, before the config is read.
    :param register: call ``register(name, factory, config=ConfigClass, description="...")`` once per
        meter; ``factory(config, ctx)`` returns a :class:`~gateway_core.roles.GridMeter` and does no I/O.
    :returns: nothing; ignored.
    :raises: the gateway refuses to start (exit 2) and names the plugin.
    """


@hookspec
def gateway_register_commands(app: typer.Typer) -> None:
    """Add CLI subcommands, e.g. ``gateway jk_uart decode``.

    Called: once when the ``gateway`` command line is built, on the main thread.
    :param app: the root :class:`typer.Typer`; add a group with ``app.add_typer(sub, name="jk_uart")``.
        Import heavy modules inside the commands, not here.
    :returns: nothing; ignored.
    :raises: the failure is logged with the plugin's name and the other commands stay available.
    """


@hookspec
def gateway_cycle_completed(result: CycleResult) -> None:
    """Observe one completed cycle: the reading, the limits sent and any problems.

    Called: after every cycle's publish, on the observer thread (never on the control loop), in
    cycle order; results are dropped, and counted, if observers fall behind.
    :param result: the :class:`~gateway_core.model.CycleResult` of the cycle.
    :returns: nothing; ignored.
    :raises: the exception is logged once per plugin and counted; the other observers still run.
    """


@hookspec
def gateway_adjust_limits(limits: Limits, reading: BatteryReading, state: GatewayState) -> Limits | None:
    """Lower the policy's limits for this cycle (e.g. a temporary user override from MQTT).

    Called: every cycle that has a fresh, plausible reading, right after the policy, in the lane
    (worker thread); never when stop limits are being sent.
    :param limits: the limits decided so far (the policy's, lowered by earlier adjusters).
    :param reading: the reading the limits rest on.
    :param state: the cycle's :class:`~gateway_core.model.GatewayState`.
    :returns: new :class:`~gateway_core.model.Limits`, or ``None`` to leave them. The core only ever
        *lowers*: each current is the minimum of before and after, the charge voltage the minimum, the
        discharge voltage the maximum, and a request flag survives only if both keep it.
    :raises: the cycle fails safe: stop limits with the plugin named (Fault.POLICY_ERROR).
    """
