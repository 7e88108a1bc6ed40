"""Fuzz the config loader: any file and any ``--set`` give a config or one ConfigError line, nothing else.

Runs over the installed plugins' real config classes, so their ``__post_init__`` checks are fuzzed
too. ``GATEWAY_LONG_FUZZ=1`` switches to the long hypothesis profile (see tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway_core.config import LoadedConfig, load_config, parse_override
from gateway_core.errors import ConfigError
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.registry import Registry

REGISTRY: Registry = collect_registrations(make_plugin_manager())
SECTIONS: dict[str, list[str]] = {
    "gateway": ["source", "policy", "sink", "observers", "period", "stale_after"],
    **{
        name: [f.name for f in dataclasses.fields(reg.config)]
        for name, reg in REGISTRY.entries.items()
        if reg.config is not None and dataclasses.is_dataclass(reg.config)
    },
}
FILE_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def value_strategy(*, allow_nan: bool) -> st.SearchStrategy[Any]:
    """TOML-able values: scalars, lists and tables of them."""
    scalars = st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=allow_nan, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["jk_uart", "pylontech", "limit_ladder", "virtual", "slcan", "", "mean", "max"]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


values = value_strategy(allow_nan=True)
section_names = st.one_of(st.sampled_from(sorted(SECTIONS)), st.text(min_size=1, max_size=10))


@st.composite
def tables(draw: st.DrawFn, allow_nan: bool = True) -> dict[str, dict[str, Any]]:
    """Config data: mostly known sections and keys, sometimes unknown ones, any values."""
    values = value_strategy(allow_nan=allow_nan)
    data: dict[str, dict[str, Any]] = {}
    for section in draw(st.lists(section_names, max_size=4, unique=True)):
        known = SECTIONS.get(section, [])
        key_names = st.sampled_from(known) if known else st.text(min_size=1, max_size=10)
        keys = draw(st.lists(st.one_of(key_names, st.text(min_size=1, max_size=10)), max_size=5))
        data[section] = {key: draw(values) for key in keys}
    return data


def toml_value(value: Any) -> str:
    """A value in TOML syntax (inline tables for mappings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document with one [section] table per entry."""
    lines = []
    for section, table in data.items():
        lines.append(f"[{json.dumps(section)}]")
        lines += [f"{json.dumps(key)} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def load_or_refuse(path: Path | None, overrides: list[str]) -> LoadedConfig | None:
    """Load; a ConfigError must be one non-empty line. Any other exception fails the test."""
    try:
        return load_config(path, overrides, REGISTRY)
    except ConfigError as exc:
        message = str(exc)
        assert message
        assert len(message.splitlines()) == 1, repr(message)
        return None


def finite_floats(obj: object) -> list[str]:
    """Names of float fields (also inside tuples and tables) that hold NaN or infinity."""
    bad = []

    def visit(name: str, value: object) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            bad.append(name)
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                visit(f"{name}[{index}]", item)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                visit(f"{name}.{key}", item)

    for fld in dataclasses.fields(obj):  # type: ignore[arg-type]
        visit(fld.name, getattr(obj, fld.name))
    return bad


def test_the_real_plugins_are_fuzzed():
    assert {"jk_uart", "pylontech", "limit_ladder"} <= set(SECTIONS)


@FILE_SETTINGS
@given(data=tables())
def test_any_toml_file_loads_or_gives_one_config_error(tmp_path, data):
    path = tmp_path / "gateway.toml"
    path.write_text(toml_document(data), encoding="utf-8")
    loaded = load_or_refuse(path, [])
    if loaded is not None:
        assert set(loaded.sections) == set(REGISTRY.entries)


@FILE_SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_file_loads_or_gives_one_config_error(tmp_path, text):
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    load_or_refuse(path, [])


@FILE_SETTINGS
@given(blob=st.binary(max_size=200))
def test_any_bytes_file_loads_or_gives_one_config_error(tmp_path, blob):
    path = tmp_path / "gateway.toml"
    path.write_bytes(blob)
    load_or_refuse(path, [])


@given(
    overrides=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.builds(
                lambda s, k, v: f"{s}.{k}={v}",
                section_names,
                st.one_of(st.sampled_from(sorted({k for ks in SECTIONS.values() for k in ks})), st.text()),
                st.one_of(values.map(toml_value), st.text(max_size=30)),
            ),
        ),
        max_size=5,
    )
)
def test_any_set_overrides_load_or_give_one_config_error(overrides):
    load_or_refuse(None, overrides)


@given(text=st.text(max_size=60))
def test_parse_override_returns_a_triple_or_one_config_error(text):
    try:
        section, key, _value = parse_override(text)
    except ConfigError as exc:
        assert str(exc).startswith("--set ")
        assert len(str(exc).splitlines()) == 1, repr(str(exc))
        return
    assert section and key and "=" in text


@given(data=tables(allow_nan=False))
def test_a_loaded_config_has_only_finite_numbers_with_the_right_types(data):
    overrides = [f"{s}.{k}={toml_value(v)}" for s, table in data.items() for k, v in table.items()]
    loaded = load_or_refuse(None, overrides)
    if loaded is None:
        return
    assert isinstance(loaded.gateway.period, float) and isinstance(loaded.gateway.stale_after, float)
    assert loaded.gateway.stale_after >= loaded.gateway.period
    objects = [loaded.gateway, *loaded.sections.values()]
    assert [name for obj in objects for name in finite_floats(obj)] == []


@pytest.mark.parametrize("override", ["gateway.period=nan", "jk_uart.timeout=nan"])
def test_nan_is_refused_by_bounded_settings(override):
    with pytest.raises(ConfigError, match="has the wrong type; accepted: a finite number"):
        load_config(None, [override], REGISTRY)


@pytest.mark.parametrize(
    ("override", "toml"),
    [("gateway.per\niod=1", None), ("\n", None), ("gate\nway=1", None), (None, '["\\r"]\n')],
)
def test_a_line_break_in_a_name_gives_one_line(tmp_path, override, toml):
    path = None
    if toml is not None:
        path = tmp_path / "gateway.toml"
        path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, [override] if override else [], REGISTRY)
    assert len(str(info.value).splitlines()) == 1
