"""The plugin manager: load entry points, collect registrations, call hooks one by one.

pluggy skips the remaining implementations when one raises, and its own entry-point loader skips
clashing names silently; this module does both itself so every failure names its plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Registration, Registry
from .roles import Factory
from .settings import NoConfig

ENTRY_POINT_GROUP = "battery_gateway"

log = logging.getLogger("gateway.plugins")


def make_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager with the gateway's hookspecs, loaded from entry points unless told not to."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if entry_points:
        load_entry_points(pm)
    return pm


def load_entry_points(pm: pluggy.PluginManager, eps: Iterable[EntryPoint] | None = None) -> dict[str, str]:
    """Load and register the ``battery_gateway`` entry points; return failures as ``{name: error}``.

    A plugin that fails to import does not stop the others; its error is kept and shown by
    ``gateway plugins`` and in "unknown plugin" messages.
    """
    failures: dict[str, str] = getattr(pm, "_gateway_load_failures", {})
    dists: dict[str, tuple[str, str]] = getattr(pm, "_gateway_dists", {})
    for ep in eps if eps is not None else entry_points(group=ENTRY_POINT_GROUP):
        if pm.has_plugin(ep.name):
            other = dists.get(ep.name, ("?", "?"))[0]
            failures[ep.name] = f"entry point name '{ep.name}' is used by '{other}' already"
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken third-party plugin must not take the gateway down
            failures[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("plugin '%s' failed to load: %s", ep.name, exc)
            continue
        dist = ep.dist
        dists[ep.name] = (dist.name, dist.version) if dist is not None else ("", "")
    pm._gateway_load_failures = failures  # type: ignore[attr-defined]
    pm._gateway_dists = dists  # type: ignore[attr-defined]
    return failures


def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    *,
    on_error: Callable[[str, BaseException], None] | None = None,
    **kwargs: Any,
) -> list[tuple[str, Any]]:
    """Call every implementation of ``hook_name`` one by one, isolating failures.

    Each implementation receives only the arguments it names and a failure in one does not skip
    the others. Without ``on_error`` a failure is re-raised as :class:`PluginError` naming the plugin.
    """
    results: list[tuple[str, Any]] = []
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            results.append((impl.plugin_name, impl.function(**args)))
        except Exception as exc:
            if on_error is None:
                raise PluginError(f"plugin '{impl.plugin_name}' failed in {hook_name}: {exc}") from exc
            on_error(impl.plugin_name, exc)
    return results


_ROLE_HOOKS = {
    "source": "gateway_register_sources",
    "policy": "gateway_register_policies",
    "sink": "gateway_register_sinks",
    "observer": "gateway_register_observers",
    "meter": "gateway_register_meters",
}


def collect_registrations(pm: pluggy.PluginManager) -> Registry:
    """Run the registration hooks and return every registration, attributed to its plugin."""
    registry = Registry(load_failures=dict(getattr(pm, "_gateway_load_failures", {})))
    dists: dict[str, tuple[str, str]] = getattr(pm, "_gateway_dists", {})
    for role, hook_name in _ROLE_HOOKS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):
            plugin_name = impl.plugin_name
            package, version = dists.get(plugin_name, ("", ""))

            def register(
                name: str,
                factory: Factory,
                *,
                config: type | None = None,
                description: str = "",
                simulator: Callable[..., Any] | None = None,
                _role: str = role,
                _plugin: str = plugin_name,
                _package: str = package,
                _version: str = version,
            ) -> None:
                registry.add(
                    Registration(
                        name,
                        _role,
                        factory,
                        config or NoConfig,
                        description,
                        _plugin,
                        _package,
                        _version,
                        simulator,
                    )
                )

            try:
                impl.function(**{"register": register} if "register" in impl.argnames else {})
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{plugin_name}' failed in {hook_name}: {exc}") from exc
    return registry


def describe_plugins(registry: Registry) -> list[dict[str, str]]:
    """Rows for ``gateway plugins``: name, role, package, version, description, plugin."""
    return [
        {
            "name": reg.name,
            "role": reg.role,
            "package": reg.package,
            "version": reg.version,
            "description": reg.description,
            "plugin": reg.plugin,
        }
        for reg in sorted(registry.entries.values(), key=lambda r: (r.role, r.name))
    ]
