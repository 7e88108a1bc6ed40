"""Contract tests over every installed source, policy and sink: the same promises from each."""

from __future__ import annotations

import logging

import pytest

from gateway_core.config import load_config
from gateway_core.errors import SinkError, SourceError
from gateway_core.model import Fault, Limits
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import BmsSource, InverterSink, LimitPolicy, PluginContext
from tests.fakes import FakeClock

REGISTRY = collect_registrations(make_plugin_manager())
CONFIG = load_config(None, [], REGISTRY)
PROTOCOLS = {"source": BmsSource, "policy": LimitPolicy, "sink": InverterSink}
CASES = [(reg.role, name) for name, reg in sorted(REGISTRY.entries.items()) if reg.role in PROTOCOLS]


def build(role: str, name: str) -> object:
    reg = REGISTRY.get(role, name)
    ctx = PluginContext(name=name, clock=FakeClock(), logger=logging.getLogger(f"test.{name}"))
    return reg.factory(CONFIG.section(name), ctx)


def test_the_builtins_are_among_the_cases():
    assert {("source", "jk_uart"), ("policy", "limit_ladder"), ("sink", "pylontech")} <= set(CASES)


@pytest.mark.parametrize(("role", "name"), CASES, ids=[f"{r}:{n}" for r, n in CASES])
def test_builds_from_defaults_and_satisfies_its_protocol(role, name):
    obj = build(role, name)
    assert isinstance(obj, PROTOCOLS[role])
    assert REGISTRY.get(role, name).description, f"{name} has no description"


@pytest.mark.parametrize(("role", "name"), [c for c in CASES if c[0] != "policy"], ids=lambda v: str(v))
def test_close_is_idempotent_even_when_never_opened(role, name):
    obj = build(role, name)
    obj.close()  # type: ignore[attr-defined]
    obj.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["jk_uart"])
def test_a_closed_builtin_source_gives_no_reading(name):
    source = build("source", name)
    source.close()  # type: ignore[attr-defined]
    with pytest.raises(SourceError):
        source.read()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["pylontech"])
def test_a_closed_builtin_sink_publishes_nothing(name):
    sink = build("sink", name)
    sink.close()  # type: ignore[attr-defined]
    with pytest.raises(SinkError):
        sink.publish(None, Limits.stop("test", Fault.NO_READING))  # type: ignore[attr-defined]
