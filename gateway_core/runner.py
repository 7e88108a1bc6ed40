"""Start-up: from a plugin manager and a config to a running loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pluggy

from .clock import Clock, MonotonicClock
from .config import LoadedConfig, load_config
from .engine import Adjuster, Engine, PluginNames
from .errors import ConfigError, PluginError, PolicyError, StartupError
from .lane import InlineLane, Lane, ThreadLane
from .loop import GatewayLoop
from .model import BatteryReading, CycleResult, GatewayState, Limits
from .notifier import ObserverNotifier
from .plugins import collect_registrations
from .registry import Registry
from .roles import PluginContext
from .sdnotify import SdNotifier

log = logging.getLogger("gateway")


@dataclass
class Gateway:
    """Everything a run needs, built and validated, before any I/O."""

    loop: GatewayLoop
    engine: Engine
    config: LoadedConfig
    observers: list[object]


def build_object(registry: Registry, config: LoadedConfig, role: str, name: str, clock: Clock) -> object:
    """Build the plugin object ``name`` of ``role`` with its config.

    :raises StartupError: the name is unknown or the factory failed.
    """
    reg = registry.get(role, name)
    ctx = PluginContext(name=name, clock=clock, logger=logging.getLogger(f"gateway.{name}"))
    try:
        return reg.factory(config.section(name), ctx)
    except StartupError:
        raise
    except Exception as exc:
        raise PluginError(f"{role} '{name}' (plugin '{reg.plugin}') could not be built: {exc}") from exc


def check_watchdog(period_s: float, watchdog_usec: str | None) -> None:
    """Refuse a period that systemd's watchdog would take for a hang (one ping per cycle).

    :raises ConfigError: ``period`` is more than half of ``WatchdogSec``.
    """
    if not watchdog_usec or not watchdog_usec.isdigit() or int(watchdog_usec) == 0:
        return
    watchdog_s = int(watchdog_usec) / 1e6
    if period_s > watchdog_s / 2:
        raise ConfigError(
            f"[gateway] period = {period_s:g} is too long for the systemd watchdog "
            f"(WatchdogSec={watchdog_s:g}s): the gateway pings once per cycle; "
            f"use a period of at most {watchdog_s / 2:g} s or raise WatchdogSec"
        )


def choose_overrides(
    sets: Sequence[str], source: str | None, policy: str | None, sink: str | None
) -> list[str]:
    """``--source X`` is ``--set gateway.source=X`` (and so on), applied after the other ``--set``."""
    overrides = list(sets)
    for key, value in (("source", source), ("policy", policy), ("sink", sink)):
        if value is not None:
            overrides.append(f"gateway.{key}={_toml_string(value)}")
    return overrides


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_gateway(
    pm: pluggy.PluginManager,
    *,
    config_path: Path | None,
    overrides: Sequence[str],
    clock: Clock | None = None,
    threaded: bool = True,
    max_cycles: int | None = None,
    sd_notify: SdNotifier | None = None,
    on_cycle: Callable[[CycleResult], None] | None = None,
) -> Gateway:
    """Validate the config and build source, policy, sink, observers, engine and loop.

    :raises StartupError: any config or plugin problem, as one line.
    """
    clock = clock or MonotonicClock()
    registry = collect_registrations(pm)
    config = load_config(config_path, overrides, registry)
    gw = config.gateway
    check_watchdog(gw.period, os.environ.get("WATCHDOG_USEC"))
    for role, name in (("source", gw.source), ("policy", gw.policy), ("sink", gw.sink)):
        if not name:
            available = ", ".join(registry.names(role)) or "none"
            raise PluginError(
                f'no {role} chosen: use --{role} NAME or [gateway] {role} = "NAME"; available: {available}'
            )
        registry.get(role, name)
    for name in gw.observers:
        registry.get("observer", name)
    source = build_object(registry, config, "source", gw.source, clock)
    policy = build_object(registry, config, "policy", gw.policy, clock)
    sink = build_object(registry, config, "sink", gw.sink, clock)
    observers = [build_object(registry, config, "observer", name, clock) for name in gw.observers]
    for name, observer in zip(gw.observers, observers, strict=True):
        pm.register(observer, name=f"observer:{name}")
    lane: Lane = ThreadLane() if threaded else InlineLane(clock)
    engine = Engine(
        source,  # type: ignore[arg-type]
        policy,  # type: ignore[arg-type]
        sink,  # type: ignore[arg-type]
        names=PluginNames(gw.source, gw.policy, gw.sink),
        clock=clock,
        period_s=gw.period,
        stale_after_s=gw.stale_after,
        lane=lane,
        adjust=make_adjuster(pm),
    )
    notifier = ObserverNotifier(pm, threaded=threaded)
    loop = GatewayLoop(
        engine,
        clock=clock,
        period_s=gw.period,
        notifier=notifier,
        sd_notify=sd_notify or SdNotifier(),
        max_cycles=max_cycles,
        on_cycle=on_cycle,
    )
    return Gateway(loop, engine, config, observers)


def make_adjuster(pm: pluggy.PluginManager) -> Adjuster | None:
    """Chain the ``gateway_adjust_limits`` implementations; ``None`` when there are none.

    Each result only ever lowers the limits (:meth:`Limits.restrict`); a failure raises
    :class:`PolicyError` naming the plugin, so the cycle fails safe.
    """
    impls = pm.hook.gateway_adjust_limits.get_hookimpls()
    if not impls:
        return None

    def adjust(limits: Limits, reading: BatteryReading, state: GatewayState) -> Limits:
        for impl in reversed(impls):
            kwargs = {"limits": limits, "reading": reading, "state": state}
            try:
                proposed = impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception as exc:
                raise PolicyError(f"plugin '{impl.plugin_name}' failed to adjust limits: {exc}") from exc
            if proposed is not None:
                if not isinstance(proposed, Limits):
                    raise PolicyError(f"plugin '{impl.plugin_name}' adjusted limits to a non-Limits value")
                limits = limits.restrict(proposed)
        return limits

    return adjust


def run_gateway(gateway: Gateway, *, install_signals: bool = True) -> int:
    """Run the loop (SIGTERM/SIGINT stop it cleanly), then close the observers."""
    gw = gateway.config.gateway
    log.info(
        "started: source %s, policy %s, sink %s, period %g s, stale after %g s",
        gw.source,
        gw.policy,
        gw.sink,
        gw.period,
        gw.stale_after,
    )
    for name, observer in zip(gw.observers, gateway.observers, strict=True):
        open_ = getattr(observer, "open", None)
        if open_ is not None:
            try:
                open_()
            except Exception as exc:
                close_all(gateway.observers)
                raise PluginError(f"observer '{name}' could not start: {exc}") from exc
    if install_signals:
        gateway.loop.install_signal_handlers()
    try:
        return gateway.loop.run()
    finally:
        close_all(gateway.observers)
        log.info("stopped after %d cycles", gateway.loop.cycles)


def close_all(observers: Sequence[object]) -> None:
    """Close each observer that has a ``close()``; a failure is logged, never raised."""
    for observer in observers:
        close = getattr(observer, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                log.warning("observer close() failed: %s", exc)
