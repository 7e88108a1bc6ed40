"""Read the TOML config, apply ``--set`` overrides and build every section's typed config object.

Precedence: defaults < file < ``--set``. Every error is one :class:`ConfigError` line naming where
the value came from (file or ``--set``), the section, the key and the accepted values.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .registry import Registry
from .settings import build_section, format_value, section_values, setting, setting_info

DEFAULT_CONFIG_PATH = Path("/etc/battery-gateway/gateway.toml")


#: Keys the core reads in every source section (plugin or instance) besides the plugin's own.
SOURCE_CORE_KEYS = ("cells",)
MAX_SERIES_CELLS = 64


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The ``[gateway]`` section: which plugins (or instances) run, and the cycle's timing."""

    source: str = setting("", help="BMS source plugin or instance (e.g. jk_uart)")
    sources: tuple[str, ...] = setting([], help="several BMS read every cycle as one bank (instances)")
    policy: str = setting("limit_ladder", help="limit policy plugin or instance")
    sink: str = setting("", help="inverter sink plugin or instance (e.g. pylontech)")
    sinks: tuple[str, ...] = setting([], help="several sinks that all get the same limits and frames")
    observers: tuple[str, ...] = setting([], help="observer plugins to enable (e.g. mqtt, prometheus)")
    meter: str = setting("", help="grid meter plugin or instance (e.g. sma_em); empty: none")
    period: float = setting(
        1.0, min=0.05, max=10.0, unit="seconds", help="cycle period (Pylontech batteries send every 1 s)"
    )
    stale_after: float = setting(
        5.0, min=0.1, max=60.0, unit="seconds", help="a reading older than this means stop limits"
    )
    meter_stale_after: float = setting(
        10.0, min=0.5, max=600.0, unit="seconds", help="a meter value older than this counts as absent"
    )
    min_sources: int = setting(
        0, min=0, max=64, help="packs that must be online for the bank to run (0: all of them)"
    )
    bank_current: str = setting(
        "weakest",
        choices=["weakest", "sum"],
        help="bank currents: packs online x the lowest pack limit (weakest), or the sum of the limits",
    )

    def __post_init__(self) -> None:
        if self.stale_after < self.period:
            raise ValueError(
                f"stale_after = {self.stale_after:g} must be at least period = {self.period:g} "
                "(otherwise every reading is stale)"
            )
        if self.source and self.sources:
            raise ValueError("source and sources are both set; use one of them")
        if self.sink and self.sinks:
            raise ValueError("sink and sinks are both set; use one of them")
        for label, names in (("sources", self.sources), ("sinks", self.sinks), ("observers", self.observers)):
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"{label} names {', '.join(twice)} more than once")
        if self.min_sources > max(len(self.source_names), 1):
            raise ValueError(
                f"min_sources = {self.min_sources} is more than the "
                f"{len(self.source_names)} source(s) configured"
            )

    @property
    def source_names(self) -> tuple[str, ...]:
        """The sources to read: ``sources``, or the one ``source``."""
        return self.sources or ((self.source,) if self.source else ())

    @property
    def sink_names(self) -> tuple[str, ...]:
        """The sinks to publish to: ``sinks``, or the one ``sink``."""
        return self.sinks or ((self.sink,) if self.sink else ())

    @property
    def required_sources(self) -> int:
        """How many packs must be online (``min_sources``, 0 meaning all)."""
        return self.min_sources or len(self.source_names)


@dataclass(frozen=True, slots=True)
class Instance:
    """One configured object: its section (instance) name, the plugin it is built from, its config."""

    name: str
    plugin: str
    role: str
    config: object
    cells: int = 0  # sources only: the pinned cell count, 0 = learned from the first plausible reading


@dataclass(frozen=True, slots=True)
class RawConfig:
    """The merged, not yet validated config: ``{section: {key: value}}`` and where each value came from."""

    values: Mapping[str, Mapping[str, Any]]
    origins: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The validated config: ``[gateway]``, one typed object per section, and the instances."""

    gateway: GatewayConfig
    sections: Mapping[str, object]
    path: Path | None
    instances: Mapping[str, Instance] = dataclasses.field(default_factory=dict)

    def section(self, name: str) -> Any:
        """The config object of section ``name`` (a plugin's or an instance's; its plugin's class)."""
        return self.sections[name]

    def instance(self, name: str) -> Instance:
        """The :class:`Instance` called ``name`` (a plain plugin section is an instance of itself)."""
        return self.instances[name]


#: A config file is a few kilobytes; anything near this is not one (``/dev/zero``, a log file).
MAX_CONFIG_BYTES = 1 << 20


def read_file(path: Path) -> dict[str, Any]:
    """Parse a TOML file. :raises ConfigError: missing, unreadable, not a regular file, too big or not
    TOML (with line and column)."""
    try:
        if str(path) == os.devnull:  # "no config": what the demo and tests pass to ignore /etc
            return {}
        if not stat.S_ISREG(path.stat().st_mode):  # stat first: opening a FIFO would block for ever
            raise ConfigError(f"{path}: not a regular file (a device, FIFO or directory is no config)")
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; that is not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValueError as exc:  # e.g. an integer beyond Python's 4300-digit conversion limit
        raise ConfigError(f"{path}: not usable TOML: {_shown(str(exc))[:120]}") from None


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
    except ValueError:  # an integer beyond Python's conversion limit
        raise ConfigError(f"--set {dotted}: the value is a number too large to use") from None
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


def _fold(name: str) -> str:
    return name.lower().replace("-", "_")


def _instance_plugin(
    section: str, values: Mapping[str, Any], origins: Mapping[str, str], registry: Registry
) -> str:
    """The plugin an instance section names with its ``plugin`` key. :raises ConfigError:."""
    where = origins.get("plugin") or next(iter(origins.values()), "config")
    known = ", ".join(sorted(registry.entries)) or "none"
    if "plugin" not in values:
        raise ConfigError(
            f"{where}: unknown section [{section}]; known sections: gateway, {known}; "
            f'an instance section names its plugin (e.g. plugin = "jk_uart")'
        )
    plugin = values["plugin"]
    if not isinstance(plugin, str) or registry.config_class(plugin) is None:
        raise ConfigError(
            f"{where}: [{section}] plugin = {format_value(plugin)} is not a registered plugin; "
            f"plugins: {known}"
        )
    return plugin


def _build_instance(
    name: str, plugin: str, values: Mapping[str, Any], origins: Mapping[str, str], registry: Registry
) -> Instance:
    reg = registry.entries[plugin]
    values = {k: v for k, v in values.items() if k != "plugin"}
    cells = 0
    own = {f.name for f in dataclasses.fields(reg.config)}
    if reg.role == "source" and "cells" in values and "cells" not in own:
        cells = build_section(_CellsKey, name, {"cells": values.pop("cells")}, origins).cells
    config: object = build_section(reg.config, name, values, origins)
    if reg.role == "source" and "cells" in own:
        declared = getattr(config, "cells", 0)
        cells = declared if isinstance(declared, int) and 0 < declared <= MAX_SERIES_CELLS else 0
    return Instance(name, plugin, reg.role, config, cells)


@dataclass(frozen=True, slots=True)
class _CellsKey:
    cells: int = setting(
        0, min=0, max=MAX_SERIES_CELLS, help="cells in series; a reading with another count is implausible"
    )


def validate(raw: RawConfig, registry: Registry, path: Path | None = None) -> LoadedConfig:
    """Build ``[gateway]``, every plugin section and every instance, refusing unknown sections.

    Sections of registered plugins that are absent get their defaults. A section that is not a plugin
    is an instance when its ``plugin`` key names one.
    """
    folded: dict[str, str] = {_fold(name): name for name in registry.entries}
    plugins_of: dict[str, str] = {}
    for section, values in raw.values.items():
        if section == "gateway":
            continue
        origins = raw.origins.get(section, {})
        if section in registry.entries:
            named = values.get("plugin", section)
            if named != section:
                where = origins.get("plugin", "config")
                raise ConfigError(
                    f"{where}: [{section}] plugin = {format_value(named)}: the section name is the plugin "
                    f"'{section}' itself; give the instance another name"
                )
            continue
        clash = folded.get(_fold(section))
        if clash is not None:
            where = next(iter(origins.values()), "config")
            raise ConfigError(f"{where}: instance name [{section}] clashes with the plugin '{clash}'")
        plugins_of[section] = _instance_plugin(section, values, origins, registry)
        folded[_fold(section)] = section
    gateway_values = raw.values.get("gateway", {})
    where = raw.origins.get("gateway", {}).get("sources", "config")
    if gateway_values.get("sources") == [] and not where.startswith("--set"):  # --source clears it
        raise ConfigError(f"{where}: [gateway] sources = [] names no source; list at least one")
    gateway = build_section(GatewayConfig, "gateway", gateway_values, raw.origins.get("gateway", {}))
    sections: dict[str, object] = {}
    instances: dict[str, Instance] = {}
    for name in registry.entries:
        inst = _build_instance(name, name, raw.values.get(name, {}), raw.origins.get(name, {}), registry)
        instances[name] = inst
        sections[name] = inst.config
    for name, plugin in plugins_of.items():
        inst = _build_instance(name, plugin, raw.values[name], raw.origins.get(name, {}), registry)
        instances[name] = inst
        sections[name] = inst.config
    return LoadedConfig(gateway, sections, path, instances)


def load_config(path: Path | None, overrides: Iterable[str], registry: Registry) -> LoadedConfig:
    """Read, merge and validate the config in one step. :raises ConfigError: one precise line."""
    raw, resolved = load_raw(path, overrides)
    return validate(raw, registry, resolved)


def render_toml(config: LoadedConfig) -> str:
    """The effective config as TOML, with each key's help as a comment."""
    lines: list[str] = []
    blocks: list[tuple[str, object]] = [("gateway", config.gateway), *sorted(config.sections.items())]
    for name, obj in blocks:
        inst = config.instances.get(name)
        is_instance = inst is not None and inst.plugin != name
        if not dataclasses.fields(obj) and not is_instance:  # type: ignore[arg-type]
            continue
        lines.append(f"[{name}]")
        if inst is not None and is_instance:
            lines.append(f'plugin = "{inst.plugin}"  # an instance of the {inst.role} plugin {inst.plugin}')
        own = {f.name for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
        if inst is not None and inst.role == "source" and inst.cells and "cells" not in own:
            lines.append(f"cells = {inst.cells}  # pinned cell count")
        for fld in dataclasses.fields(obj):  # type: ignore[arg-type]
            value = section_values(obj)[fld.name]
            info = setting_info(fld)
            comment = f"  # {info.help}" if info.help else ""
            if value is None or (name == "gateway" and fld.name in ("sources", "sinks") and not value):
                lines.append(f"# {fld.name} = (not set){comment}")
            elif info.secret:
                lines.append(f'{fld.name} = "***"  # secret: not shown')
            else:
                lines.append(f"{fld.name} = {format_value(value)}{comment}")
        lines.append("")
    return "\n".join(lines)
