"""Start-up: from a plugin manager and a config to a running loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from .claims import Claims
from .clock import Clock, MonotonicClock
from .config import LoadedConfig, load_config
from .engine import Adjuster, Engine, MeterSpec, PluginNames, SinkSpec
from .errors import ConfigError, PluginError, PolicyError, StartupError
from .lane import InlineLane, Lane, ThreadLane
from .loop import GatewayLoop
from .model import BatteryReading, CycleResult, GatewayState, Limits
from .notifier import ObserverNotifier
from .pack import PackSpec
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
    claims: Claims | None = None


def build_object(
    registry: Registry,
    config: LoadedConfig,
    role: str,
    name: str,
    clock: Clock,
    *,
    period_s: float = 1.0,
    pack: str = "",
) -> object:
    """Build the object of plugin or instance ``name`` in ``role`` with its config.

    :raises StartupError: the name is unknown (or of another role) or the factory failed.
    """
    inst = config.instances.get(name)
    if inst is None or inst.role != role:
        registry.get(role, name)  # raises "unknown <role> 'x'; available: ..."
        raise PluginError(f"unknown {role} '{name}'")
    reg = registry.get(role, inst.plugin)
    ctx = PluginContext(
        name=name,
        clock=clock,
        logger=logging.getLogger(f"gateway.{name}"),
        plugin=inst.plugin,
        period_s=period_s,
        pack=pack,
    )
    try:
        return reg.factory(inst.config, ctx)
    except StartupError:
        raise
    except Exception as exc:
        where = f"{role} '{name}'" + (f" (plugin '{inst.plugin}')" if inst.plugin != name else "")
        raise PluginError(f"{where} could not be built: {exc}") from exc


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
    sets: Sequence[str],
    source: str | Sequence[str] | None,
    policy: str | None,
    sink: str | Sequence[str] | None,
) -> list[str]:
    """``--source X`` is ``--set gateway.source=X`` (and so on), applied after the other ``--set``.

    ``--source`` (and ``--sink``) given several times set ``sources`` (``sinks``) and clear the single
    key, so the command line replaces what the file chose.
    """
    overrides = list(sets)
    for key, value in (("source", source), ("sink", sink)):
        names = [value] if isinstance(value, str) else list(value or [])
        if len(names) == 1:
            overrides += [f"gateway.{key}={_toml_string(names[0])}", f"gateway.{key}s=[]"]
        elif names:
            listed = ", ".join(_toml_string(n) for n in names)
            overrides += [f'gateway.{key}=""', f"gateway.{key}s=[{listed}]"]
    if policy is not None:
        overrides.append(f"gateway.policy={_toml_string(policy)}")
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
    for role, names in (("source", gw.source_names), ("policy", (gw.policy,)), ("sink", gw.sink_names)):
        if not names or not all(names):
            available = ", ".join(registry.names(role)) or "none"
            raise PluginError(
                f'no {role} chosen: use --{role} NAME or [gateway] {role} = "NAME"; available: {available}'
            )
        for name in names:
            _check_role(registry, config, role, name)
    for name in gw.observers:
        _check_role(registry, config, "observer", name)
    if gw.meter:
        _check_role(registry, config, "meter", gw.meter)
    period = gw.period
    packs = []
    for name in gw.source_names:
        source = build_object(registry, config, "source", name, clock, period_s=period)
        policy = build_object(registry, config, "policy", gw.policy, clock, period_s=period, pack=name)
        lane: Lane = ThreadLane(f"gateway-lane-{name}") if threaded else InlineLane(clock)
        inst = config.instance(name)
        packs.append(
            PackSpec(name, inst.plugin, source, policy, gw.policy, lane, inst.cells)  # type: ignore[arg-type]
        )
    sinks = []
    for name in gw.sink_names:
        sink: Any = build_object(registry, config, "sink", name, clock, period_s=period)
        sinks.append(SinkSpec(name, config.instance(name).plugin, sink))
    meter = None
    if gw.meter:
        grid: Any = build_object(registry, config, "meter", gw.meter, clock, period_s=period)
        meter = MeterSpec(gw.meter, grid)
    observers = [
        build_object(registry, config, "observer", name, clock, period_s=period) for name in gw.observers
    ]
    for name, observer in zip(gw.observers, observers, strict=True):
        pm.register(observer, name=f"observer:{name}")
    claims = claim_resources([(p.name, p.source) for p in packs] + [(s.name, s.sink) for s in sinks])
    engine = Engine(
        packs,
        None,
        sinks,
        names=PluginNames(",".join(gw.source_names), gw.policy, ",".join(gw.sink_names)),
        clock=clock,
        period_s=period,
        stale_after_s=gw.stale_after,
        adjust=make_adjuster(pm),
        min_sources=gw.min_sources,
        bank_current=gw.bank_current,
        meter=meter,
        meter_stale_after_s=gw.meter_stale_after,
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
    return Gateway(loop, engine, config, observers, claims)


def _check_role(registry: Registry, config: LoadedConfig, role: str, name: str) -> None:
    """:raises PluginError: ``name`` is no plugin or instance of ``role``."""
    inst = config.instances.get(name)
    if inst is not None and inst.role == role:
        return
    if inst is not None:
        raise PluginError(f"'{name}' is a {inst.role} ({inst.plugin}), not a {role}")
    registry.get(role, name)


def claim_resources(objects: Sequence[tuple[str, object]]) -> Claims:
    """Claim every port the sources and sinks name through ``resources()``.

    :raises StartupError: another gateway holds one, or a ``resources()`` failed.
    """
    claims = Claims()
    for name, obj in objects:
        resources = getattr(obj, "resources", None)
        if resources is None:
            continue
        try:
            listed = tuple(resources())
        except Exception as exc:
            raise PluginError(f"'{name}': resources() failed: {exc}") from exc
        try:
            for resource in listed:
                claims.claim(str(resource), name)
        except StartupError:
            claims.release()
            raise
    return claims


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
    """Open the observers, run the loop (every terminating signal stops it cleanly), close them.

    An observer whose ``open()`` raises :class:`StartupError` refuses the start (exit 2); any other
    failure never keeps frames from the inverter: it is logged once, the observer sits out, and the
    notifier retries its ``open()`` with backoff.
    """
    gw = gateway.config.gateway
    log.info(
        "started: sources %s, policy %s, sinks %s, period %g s, stale after %g s",
        ", ".join(gw.source_names),
        gw.policy,
        ", ".join(gw.sink_names),
        gw.period,
        gw.stale_after,
    )
    notifier = gateway.loop.notifier
    for name, observer in zip(gw.observers, gateway.observers, strict=True):
        open_ = getattr(observer, "open", None)
        if open_ is None:
            continue
        try:
            open_()
        except StartupError as exc:
            close_all(gateway.observers)
            _release(gateway)
            raise PluginError(f"observer '{name}' could not start: {exc}") from exc
        except Exception as exc:
            log.warning("observer '%s' could not start: %s; frames go on, retrying with backoff", name, exc)
            if notifier is not None:
                notifier.retry_open(name, observer, open_)
    if install_signals:
        gateway.loop.install_signal_handlers()
    try:
        return gateway.loop.run()
    finally:
        close_all(gateway.observers)
        _release(gateway)
        log.info("stopped after %d cycles", gateway.loop.cycles)


def _release(gateway: Gateway) -> None:
    if gateway.claims is not None:
        gateway.claims.release()


def close_all(observers: Sequence[object]) -> None:
    """Close each observer that has a ``close()``; a failure is logged, never raised."""
    for observer in observers:
        close = getattr(observer, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                log.warning("observer close() failed: %s", exc)
