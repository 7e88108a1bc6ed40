"""Typed, validated configuration objects that plugins declare.

A plugin declares its section as a frozen dataclass whose fields use :func:`setting`::

    @dataclass(frozen=True, slots=True)
    class JkUartConfig:
        port: str = setting("/dev/ttyUSB0", help="pyserial port or URL")
        timeout: float = setting(0.5, min=0.05, max=5.0, unit="seconds", help="deadline per reply")

:func:`build_section` turns a TOML table into that object, refusing unknown keys, wrong types and
out-of-range values with one precise :class:`~gateway_core.errors.ConfigError` line.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin

from .errors import ConfigError

T = TypeVar("T")

_META = "battery_gateway"


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """What :func:`setting` records about one field: bounds, choices, unit and help text."""

    min: float | None = None
    max: float | None = None
    choices: tuple[object, ...] | None = None
    unit: str = ""
    help: str = ""
    secret: bool = False


def setting(
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[object] | None = None,
    unit: str = "",
    help: str = "",
    secret: bool = False,
) -> Any:
    """Declare one config key with its default, bounds, unit and help (a ``dataclasses.field``).

    A ``secret`` value (a password) is never printed: ``gateway config show`` and error messages
    show ``"***"`` instead.
    """
    info = SettingInfo(min, max, tuple(choices) if choices is not None else None, unit, help, secret)
    if isinstance(default, list | dict):
        frozen = _freeze(default)
        return dataclasses.field(default_factory=lambda: frozen, metadata={_META: info})
    return dataclasses.field(default=default, metadata={_META: info})


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return types.MappingProxyType({key: _freeze(item) for key, item in value.items()})
    return value


def setting_info(fld: dataclasses.Field[Any]) -> SettingInfo:
    """The :class:`SettingInfo` of a config field (empty when it was declared without ``setting``)."""
    info = fld.metadata.get(_META)
    return info if isinstance(info, SettingInfo) else SettingInfo()


@dataclass(frozen=True, slots=True)
class NoConfig:
    """The config of a plugin that has no settings."""


def describe_type(annotation: Any) -> str:
    """A short human name of a config field's type, for error messages."""
    origin = get_origin(annotation)
    if annotation is float:
        return "a finite number"
    if annotation is int:
        return "a whole number"
    if annotation is bool:
        return "true or false"
    if annotation is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(describe_type(a) for a in get_args(annotation) if a is not type(None))
    if origin in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if origin is tuple and Ellipsis not in get_args(annotation):
            return "[" + ", ".join(describe_type(a).removeprefix("a ") for a in args) + "]"
        return "a list of " + (describe_type(args[0]) if args else "values")
    if origin in (dict, Mapping):
        return "a table of " + describe_type(get_args(annotation)[1])
    return getattr(annotation, "__name__", str(annotation))


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against ``annotation`` and convert lists to tuples; raise ValueError."""
    origin = get_origin(annotation)
    if annotation is Any:
        return _freeze(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1000:
            raise ValueError(where)  # beyond any float: a 400-digit number is no setting
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin is Literal:
        if value in get_args(annotation) and type(value) in {type(a) for a in get_args(annotation)}:
            return value
    elif origin in (types.UnionType, typing.Union):
        for option in get_args(annotation):
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except ValueError:
                continue
    elif origin in (list, tuple):
        if isinstance(value, list | tuple):
            args = get_args(annotation)
            if origin is tuple and args and Ellipsis not in args:
                if len(value) != len(args):
                    raise ValueError(where)
                pairs = enumerate(zip(value, args, strict=True))
                return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in pairs)
            item_type = args[0] if args else Any
            return tuple(_convert(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    elif origin in (dict, Mapping):
        if isinstance(value, Mapping):
            key_type, item_type = get_args(annotation) or (str, Any)
            return types.MappingProxyType(
                {
                    _convert(k, key_type, where): _convert(v, item_type, f"{where}.{k}")
                    for k, v in value.items()
                }
            )
    else:
        raise TypeError(f"unsupported config type {annotation!r} at {where}")
    raise ValueError(where)


def _numbers(value: Any) -> list[float | int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]  # ints stay ints: a huge one compares with the bounds without overflowing
    if isinstance(value, tuple):
        return [n for item in value for n in _numbers(item)]
    return []


def accepted(fld: dataclasses.Field[Any], annotation: Any) -> str:
    """The accepted values of a field, as said in error messages and docs."""
    info = setting_info(fld)
    unit = f" ({info.unit})" if info.unit else ""
    if info.choices is not None:
        return ", ".join(str(c) for c in info.choices)
    if info.min is not None and info.max is not None:
        return f"{info.min:g} to {info.max:g}{unit}"
    if info.min is not None:
        return f"{info.min:g} or more{unit}"
    if info.max is not None:
        return f"up to {info.max:g}{unit}"
    return describe_type(annotation) + unit


def format_value(value: Any) -> str:
    """A value as TOML would spell it, for messages and ``gateway config show``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + "".join(_toml_char(ch) for ch in value) + '"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {format_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, int) and value.bit_length() > 64:
        return f"(a {int(value.bit_length() * 0.30103) + 1}-digit number)"  # never str() a huge int
    return str(value)


def _toml_key(key: object) -> str:
    """A table key as TOML spells it: bare when it is a plain word, else a quoted, escaped string."""
    text = str(key)
    return (
        text
        if text and all(c.isalnum() or c in "_-" for c in text) and text.isascii()
        else format_value(text)
    )


def _toml_char(ch: str) -> str:
    """One character of a TOML basic string: quotes and backslashes escaped, controls as \\uXXXX."""
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def build_section(
    cls: type[T],
    section: str,
    values: Mapping[str, Any],
    origins: Mapping[str, str] | None = None,
) -> T:
    """Build the config object ``cls`` of ``[section]`` from ``values``.

    ``origins`` maps each key to where it came from (a file name or ``--set``), used as the first
    word of an error. Raises :class:`ConfigError` with one line naming the origin, section, key and
    the accepted values.
    """
    origins = origins or {}
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        origin = origins.get(key, "config")
        if key not in fields:
            known = ", ".join(sorted(fields)) or "(this section takes no keys)"
            raise ConfigError(f"{origin}: [{section}] unknown key '{key}'; known keys: {known}")
        fld = fields[key]
        annotation = hints[key]
        shown = '"***"' if setting_info(fld).secret else format_value(raw)
        try:
            value = _convert(raw, annotation, key)
        except ValueError:
            raise ConfigError(
                f"{origin}: [{section}] {key} = {shown} has the wrong type; "
                f"accepted: {describe_type(annotation)}"
            ) from None
        info = setting_info(fld)
        if info.choices is not None and value not in info.choices:
            raise ConfigError(
                f"{origin}: [{section}] {key} = {shown} is not allowed; accepted: {accepted(fld, annotation)}"
            )
        for number in _numbers(value):
            if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
                raise ConfigError(
                    f"{origin}: [{section}] {key} = {shown} is out of range; "
                    f"accepted: {accepted(fld, annotation)}"
                )
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        where = ", ".join(sorted({origins.get(k, "config") for k in values})) or "defaults"
        raise ConfigError(f"{where}: [{section}] {exc}") from None


def section_values(config: object) -> dict[str, Any]:
    """The field values of a config object, in declaration order."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}  # type: ignore[arg-type]
