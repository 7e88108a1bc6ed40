"""What the plugins registered: one :class:`Registration` per source, policy, sink and observer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import PluginError
from .roles import Factory

ROLES = ("source", "policy", "sink", "observer", "meter")


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered plugin object: its name (also its config section), role and factory."""

    name: str
    role: str
    factory: Factory
    config: type
    description: str
    plugin: str
    package: str = ""
    version: str = ""
    simulator: Callable[..., Any] | None = None


@dataclass
class Registry:
    """All registrations, by name; names are unique across roles."""

    entries: dict[str, Registration] = field(default_factory=dict)
    load_failures: dict[str, str] = field(default_factory=dict)

    def add(self, registration: Registration) -> None:
        """Add one registration. :raises PluginError: the name is taken (names both plugins)."""
        if registration.role not in ROLES:
            raise PluginError(f"plugin '{registration.plugin}': unknown role '{registration.role}'")
        if not registration.name.isidentifier():
            raise PluginError(
                f"plugin '{registration.plugin}': name {registration.name!r} must be a Python identifier"
            )
        existing = self.entries.get(registration.name)
        if existing is not None:
            raise PluginError(
                f"{registration.role} '{registration.name}' is registered twice: by plugin "
                f"'{existing.plugin}' ({existing.role}) and by plugin '{registration.plugin}'"
            )
        if registration.name == "gateway":
            raise PluginError(f"plugin '{registration.plugin}': the name 'gateway' is reserved")
        self.entries[registration.name] = registration

    def names(self, role: str) -> list[str]:
        """The sorted names registered for ``role``."""
        return sorted(name for name, reg in self.entries.items() if reg.role == role)

    def get(self, role: str, name: str) -> Registration:
        """The registration of ``name`` in ``role``.

        :raises PluginError: ``unknown source 'x'; available: a, b`` (plus any plugin that failed to load).
        """
        reg = self.entries.get(name)
        if reg is None or reg.role != role:
            available = ", ".join(self.names(role)) or "none"
            message = f"unknown {role} '{name}'; available: {available}"
            if self.load_failures:
                failed = "; ".join(f"plugin '{p}' failed to load: {e}" for p, e in self.load_failures.items())
                message += f" ({failed})"
            raise PluginError(message)
        return reg

    def config_class(self, section: str) -> type | None:
        """The config class of a section, or ``None`` when no plugin registered that name."""
        reg = self.entries.get(section)
        return reg.config if reg is not None else None
