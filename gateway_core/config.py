"""Read the TOML config, apply ``--set`` overrides and build every section's typed config object.

Precedence: defaults < file < ``--set``. Every error is one :class:`ConfigError` line naming where
the value came from (file or ``--set``), the section, the key and the accepted values.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .registry import Registry
from .settings import build_section, format_value, section_values, setting, setting_info

DEFAULT_CONFIG_PATH = Path("/etc/battery-gateway/gateway.toml")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The ``[gateway]`` section: which plugins run, and the cycle's timing."""

    source: str = setting("", help="BMS source plugin (e.g. jk_uart)")
    policy: str = setting("limit_ladder", help="limit policy plugin")
    sink: str = setting("", help="inverter sink plugin (e.g. pylontech)")
    observers: tuple[str, ...] = setting([], help="observer plugins to enable (e.g. mqtt, prometheus)")
    period: float = setting(
        1.0, min=0.05, max=10.0, unit="seconds", help="cycle period (Pylontech batteries send every 1 s)"
    )
    stale_after: float = setting(
        5.0, min=0.1, max=60.0, unit="seconds", help="a reading older than this means stop limits"
    )

    def __post_init__(self) -> None:
        if self.stale_after < self.period:
            raise ValueError(
                f"stale_after = {self.stale_after:g} must be at least period = {self.period:g} "
                "(otherwise every reading is stale)"
            )


@dataclass(frozen=True, slots=True)
class RawConfig:
    """The merged, not yet validated config: ``{section: {key: value}}`` and where each value came from."""

    values: Mapping[str, Mapping[str, Any]]
    origins: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The validated config: the ``[gateway]`` section and one typed object per plugin section."""

    gateway: GatewayConfig
    sections: Mapping[str, object]
    path: Path | None

    def section(self, name: str) -> Any:
        """The config object of plugin section ``name`` (its plugin's config class)."""
        return self.sections[name]


def read_file(path: Path) -> dict[str, Any]:
    """Parse a TOML file. :raises ConfigError: missing, unreadable or not TOML (with line and column)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _shown(text: str) -> str:
    """``text`` for a one-line message: as it is when printable, else quoted with escapes."""
    return text if text.isprintable() else repr(text)


def _check_name(label: str, what: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{label}: {what} name {name!r} is not valid; use letters, digits, _ and -")


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.key=value``; the value is read as TOML, else as a plain string.

    :raises ConfigError: no ``=``, no section, a malformed name, or a newline in the value.
    """
    usage = f"--set {_shown(text)}: expected section.key=value (e.g. jk_uart.port=/dev/ttyUSB1)"
    if "=" not in text:
        raise ConfigError(usage)
    dotted, raw = text.split("=", 1)
    dotted = dotted.strip()
    if "." not in dotted:
        raise ConfigError(usage)
    section, key = dotted.split(".", 1)
    if not section or not key:
        raise ConfigError(usage)
    _check_name(f"--set {_shown(dotted)}", "section", section)
    _check_name(f"--set {_shown(dotted)}", "key", key)
    if "\n" in raw or "\r" in raw:
        raise ConfigError(f"--set {dotted}: the value must not contain a newline")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def merge(file_data: Mapping[str, Any], file_label: str, overrides: Iterable[str]) -> RawConfig:
    """Merge the file's tables and the ``--set`` overrides, remembering each value's origin."""
    values: dict[str, dict[str, Any]] = {}
    origins: dict[str, dict[str, str]] = {}
    for section, table in file_data.items():
        _check_name(file_label, "section", section)
        if isinstance(table, dict):
            for key in table:
                _check_name(file_label, f"[{section}] key", key)
        if not isinstance(table, dict):
            raise ConfigError(
                f"{file_label}: top-level key '{section}' must be a [section] table, "
                f"not {format_value(table)}"
            )
        values[section] = dict(table)
        origins[section] = dict.fromkeys(table, file_label)
    for text in overrides:
        section, key, value = parse_override(text)
        values.setdefault(section, {})[key] = value
        origins.setdefault(section, {})[key] = f"--set {section}.{key}"
    return RawConfig(values, origins)


def load_raw(path: Path | None, overrides: Iterable[str] = ()) -> tuple[RawConfig, Path | None]:
    """Read ``path`` (or the default file if it exists) and merge ``overrides``."""
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    data = read_file(path) if path is not None else {}
    return merge(data, str(path) if path is not None else "config", overrides), path


def validate(raw: RawConfig, registry: Registry, path: Path | None = None) -> LoadedConfig:
    """Build ``[gateway]`` and every plugin section, refusing unknown sections.

    Sections of registered plugins that are absent get their defaults.
    """
    for section in raw.values:
        if section != "gateway" and registry.config_class(section) is None:
            where = next(iter(raw.origins.get(section, {}).values()), "config")
            known = ", ".join(["gateway", *sorted(registry.entries)])
            raise ConfigError(f"{where}: unknown section [{section}]; known sections: {known}")
    gateway = build_section(
        GatewayConfig, "gateway", raw.values.get("gateway", {}), raw.origins.get("gateway", {})
    )
    sections: dict[str, object] = {}
    for name, reg in registry.entries.items():
        sections[name] = build_section(reg.config, name, raw.values.get(name, {}), raw.origins.get(name, {}))
    return LoadedConfig(gateway, sections, path)


def load_config(path: Path | None, overrides: Iterable[str], registry: Registry) -> LoadedConfig:
    """Read, merge and validate the config in one step. :raises ConfigError: one precise line."""
    raw, resolved = load_raw(path, overrides)
    return validate(raw, registry, resolved)


def render_toml(config: LoadedConfig) -> str:
    """The effective config as TOML, with each key's help as a comment."""
    lines: list[str] = []
    blocks: list[tuple[str, object]] = [("gateway", config.gateway), *sorted(config.sections.items())]
    for name, obj in blocks:
        if not dataclasses.fields(obj):  # type: ignore[arg-type]
            continue
        lines.append(f"[{name}]")
        for fld in dataclasses.fields(obj):  # type: ignore[arg-type]
            value = section_values(obj)[fld.name]
            info = setting_info(fld)
            comment = f"  # {info.help}" if info.help else ""
            if value is None:
                lines.append(f"# {fld.name} = (not set){comment}")
            elif info.secret:
                lines.append(f'{fld.name} = "***"  # secret: not shown')
            else:
                lines.append(f"{fld.name} = {format_value(value)}{comment}")
        lines.append("")
    return "\n".join(lines)
