"""Shared builders for the web observer tests: results, observers, plain HTTP, the page's rounding."""

from __future__ import annotations

import http.client
import json
import logging
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway_core.model import (
    Alarm,
    BatteryReading,
    CycleResult,
    Fault,
    LimitFlag,
    Limits,
    PackResult,
    Problem,
    PublishReport,
    SentFrame,
    SinkResult,
)
from gateway_core.roles import PluginContext
from tests.fakes import FakeClock, make_reading
from web.config import WebConfig
from web.observer import WebObserver

WALL_NOW = 1_700_000_000.0
ALLOW = Limits(
    50.0,
    60.0,
    55.2,
    50.4,
    LimitFlag.CHARGE | LimitFlag.DISCHARGE,
    ("charge 50 A: highest cell 3.315 V >= 3.00 V", "discharge 60 A: lowest cell 3.300 V >= 3.30 V"),
    charge_state="bulk",
)


def rich_reading(clock: FakeClock, **changes: object) -> BatteryReading:
    """A 16-cell reading with distinct cells (highest cell 16, lowest cell 1) and every field set."""
    cells = tuple(round(3.300 + 0.001 * i, 3) for i in range(16))
    values: dict[str, object] = {
        "cell_voltages_v": cells,
        "voltage_v": round(sum(cells), 2),
        "current_a": -12.34,
        "soc_pct": 73.4,
        "soh_pct": 97.0,
        "temperatures_c": (18.5, 19.25, 20.0),
        "bms_temperature_c": 31.5,
        "alarms": frozenset({Alarm.LOW_CAPACITY}),
        "cycle_count": 42,
        "capacity_ah": 280.0,
        "remaining_capacity_ah": 205.5,
    }
    values.update(changes)
    return replace(make_reading(clock), **values)  # type: ignore[arg-type]


def pylontech_frames(reading: BatteryReading | None, limits: Limits) -> tuple[SentFrame, ...]:
    """The frames the real Pylontech sink builds for ``reading`` and ``limits``, as it sends them."""
    from pylontech_can.config import PylontechConfig
    from pylontech_can.frames import FrameBuilder

    built = FrameBuilder(PylontechConfig(interface="virtual")).build(reading, limits)
    return tuple(SentFrame(frame.arbitration_id, bytes(frame.data)) for frame in built)


def make_result(
    clock: FakeClock,
    *,
    cycle: int = 1,
    reading: BatteryReading | None = None,
    limits: Limits = ALLOW,
    problems: tuple[Problem, ...] = (),
    peer_seen_at_s: float | None = None,
    packs: tuple[PackResult, ...] = (),
    sinks: tuple[SinkResult, ...] = (),
    **changes: Any,
) -> CycleResult:
    """A cycle that started now on ``clock`` and lasted 20 ms."""
    return CycleResult(
        cycle=cycle,
        started_at_s=clock.now(),
        reading=reading,
        limits=limits,
        published=True,
        problems=problems,
        peer_seen_at_s=peer_seen_at_s,
        duration_s=0.02,
        source="jk_uart",
        policy="limit_ladder",
        sink="pylontech",
        packs=packs,
        sinks=sinks,
        **changes,
    )


def pylontech_sink(
    reading: BatteryReading | None, limits: Limits, *, peer_seen_at_s: float | None = None, **report: Any
) -> SinkResult:
    """A published ``pylontech`` sink result carrying the real frames."""
    frames = pylontech_frames(reading, limits)
    return SinkResult(
        "pylontech",
        "pylontech",
        True,
        PublishReport(len(frames), peer_seen_at_s=peer_seen_at_s, frames=frames, **report),
    )


def stop_result(clock: FakeClock, *, cycle: int = 1, reason: str = "no reading for 6.0 s") -> CycleResult:
    """A fail-safe cycle: stop limits for a stale reading, no reading."""
    return make_result(clock, cycle=cycle, limits=Limits.stop(reason, Fault.STALE_READING))


def make_observer(clock: FakeClock, *, period_s: float = 1.0, **config: Any) -> WebObserver:
    """An observer on ``clock`` with a fixed wall clock; ``listen`` defaults to a free localhost port."""
    config.setdefault("listen", "127.0.0.1:0")
    ctx = PluginContext("web", clock, logging.getLogger("gateway.web.test"), plugin="web", period_s=period_s)
    return WebObserver(WebConfig(**config), ctx, wall=lambda: WALL_NOW)


@dataclass(frozen=True)
class Response:
    """One HTTP response, read whole: status, headers and body."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes


def request(observer: WebObserver, method: str, path: str, body: bytes | None = None) -> Response:
    """One HTTP request to the observer's server (a new connection each time)."""
    address = observer.address
    assert address is not None, "the page is not served"
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


def get_json(observer: WebObserver, path: str) -> dict[str, Any]:
    """GET ``path`` and parse its JSON (asserting a 200 with the JSON content type)."""
    response = request(observer, "GET", path)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    return dict(json.loads(response.body))


def shown(value: float | None, decimals: int, unit: str) -> str:
    """What the page shows for ``value``: JavaScript's ``toFixed`` (ties away from zero), no "-0"."""
    if value is None:
        return "\u2013"
    text = str(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))
    if text.startswith("-") and Decimal(text) == 0:
        text = text[1:]
    return f"{text} {unit}"
