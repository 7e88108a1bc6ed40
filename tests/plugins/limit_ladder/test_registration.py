"""The plugin registers the default policy and its command through the hooks."""

from __future__ import annotations

import logging

from gateway_core.clock import MonotonicClock
from gateway_core.config import GatewayConfig
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.roles import LimitPolicy, PluginContext
from limit_ladder.config import LadderConfig

from .helpers import pack


def test_registers_the_limit_ladder_policy() -> None:
    import limit_ladder

    pm = make_plugin_manager(entry_points=False)
    pm.register(limit_ladder, name="limit_ladder")
    registration = collect_registrations(pm).get("policy", "limit_ladder")
    assert registration.config is LadderConfig
    policy = registration.factory(
        LadderConfig(), PluginContext("limit_ladder", MonotonicClock(), logging.getLogger())
    )
    assert isinstance(policy, LimitPolicy)
    from gateway_core.model import GatewayState

    assert policy.decide(pack(3.48), GatewayState(0.0, 1)).charge_current_a == 15


def test_is_the_default_policy_and_arrives_through_its_entry_point() -> None:
    assert GatewayConfig().policy == "limit_ladder"
    registry = collect_registrations(make_plugin_manager())
    assert registry.get("policy", "limit_ladder").config is LadderConfig


def test_init_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    heavy = "('typer', 'can', 'limit_ladder.policy')"
    code = f"import sys, limit_ladder; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
