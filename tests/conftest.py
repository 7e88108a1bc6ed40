"""Shared fixtures: an injected clock and the fakes of tests/fakes.py."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.fakes import FakeClock, FakeSink, FakeSource, FixedPolicy

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("long" if os.environ.get("GATEWAY_LONG_FUZZ") else "default")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def source(clock: FakeClock) -> FakeSource:
    return FakeSource(clock)


@pytest.fixture
def sink(clock: FakeClock) -> FakeSink:
    return FakeSink(clock)


@pytest.fixture
def policy() -> FixedPolicy:
    return FixedPolicy()
