"""The page in a real headless Chromium (Debian's package), driven over the DevTools protocol.

Against a running gateway with the JK simulator: the values and reasons shown equal the reading and
the policy's limits of the cycle the page shows; a BMS fault brings the fail-safe banner, recovery
takes it away, without a reload. Against the observer alone: a bank, decoded frames, the obedience
warning, hostile strings shown as text, and the banner for a gateway that stopped cycling.
Screenshots (desktop and 360 px wide) go to ``tests/plugins/web/artifacts/``. Skipped only where
Chromium is absent, and never under CI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway_core.model import BatteryReading, Limits, PackResult, Problem
from tests.fakes import FakeClock

from .browser import Chromium, Page, available
from .helpers import ALLOW, make_observer, make_result, pylontech_sink, rich_reading, shown
from .live import LiveGateway, live_gateway

ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP = (1280, 900)
PHONE = (360, 740)

pytestmark = pytest.mark.skipif(
    not available() and not os.environ.get("CI"), reason="chromium is not installed (apt install chromium)"
)

#: Everything the tests read off the page, in one evaluation (so from one render).
READ_PAGE = """JSON.stringify({
  cycle: Number(document.body.dataset.cycle),
  text: Object.fromEntries(["v-voltage", "v-current", "v-direction", "v-power", "v-soc", "v-soc-reported",
    "v-soh", "v-remaining", "l-ccl", "l-dcl", "l-cvl", "l-dvl", "l-flags", "l-state", "cells-summary",
    "battery-title", "peer", "failsafe-fault"].map(id => [id, document.getElementById(id).textContent])),
  reasons: [...document.querySelectorAll("#l-reasons li")].map(li => li.textContent),
  failsafe: !document.getElementById("failsafe").hidden,
  failsafeReasons: [...document.querySelectorAll("#failsafe-reasons li")].map(li => li.textContent),
  cells: [...document.querySelectorAll("#cells .cell")].map(c => ({
    n: c.dataset.cell, v: c.querySelector(".v").textContent, cls: c.className})),
  temps: [...document.querySelectorAll("#temps li")].map(li => li.textContent),
  sinks: document.querySelectorAll("#sinks .sink").length,
  obedience: !document.getElementById("obedience").hidden,
  offline: document.getElementById("offline").hidden ? null : document.getElementById("offline").textContent,
  title: document.title,
  width: document.documentElement.scrollWidth,
})"""


def read_page(page: Page) -> dict[str, Any]:
    return dict(json.loads(page.evaluate(READ_PAGE)))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def live() -> Iterator[LiveGateway]:
    with live_gateway(period_s=0.2, stale_after_s=1.0, current_a=20.0, soc_pct=61.0) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def desktop(browser: Chromium, live: LiveGateway) -> Iterator[Page]:
    page = browser.page(*DESKTOP)
    page.goto(live.url)
    try:
        yield page
    finally:
        page.close()


def expected_cells(reading: BatteryReading) -> list[dict[str, str]]:
    high = reading.cell_voltages_v.index(reading.max_cell_v)
    low = reading.cell_voltages_v.index(reading.min_cell_v)
    cells = []
    for i, v in enumerate(reading.cell_voltages_v):
        mark = " \u25b2" if i == high else (" \u25bc" if i == low else "")
        cls = "cell" + (" high" if i == high else "") + (" low" if i == low else "")
        cells.append({"n": str(i + 1), "v": shown(v, 3, "V") + mark, "cls": cls})
    return cells


def check_matches_result(seen: dict[str, Any], live: LiveGateway) -> None:
    """The page shows exactly the reading and limits of the cycle it says it shows."""
    result = live.result(seen["cycle"])
    reading, limits = result.reading, result.limits
    assert reading is not None and limits.fault is None
    text = seen["text"]
    assert text["v-voltage"] == shown(reading.voltage_v, 2, "V")
    assert text["v-current"] == shown(reading.current_a, 1, "A")
    assert text["v-direction"] == "(charging)"
    assert text["v-power"] == shown(reading.voltage_v * reading.current_a, 0, "W")
    assert text["v-soc"] == shown(reading.soc_pct, 0, "%")
    reported = limits.reported_soc_pct if limits.reported_soc_pct is not None else reading.soc_pct
    assert text["v-soc-reported"] == shown(reported, 0, "%")
    assert text["v-soh"] == shown(reading.soh_pct, 0, "%")
    assert text["l-ccl"] == shown(limits.charge_current_a, 1, "A")
    assert text["l-dcl"] == shown(limits.discharge_current_a, 1, "A")
    assert text["l-cvl"] == shown(limits.charge_voltage_v, 2, "V")
    assert text["l-dvl"] == shown(limits.discharge_voltage_v, 2, "V")
    assert text["l-flags"] == "charge, discharge"
    assert seen["reasons"] == list(limits.reasons)
    assert seen["cells"] == expected_cells(reading)
    assert text["cells-summary"].endswith("spread " + shown(reading.cell_delta_v, 3, "V"))
    probes = [f"probe {i}: {shown(t, 1, '°C')}" for i, t in enumerate(reading.temperatures_c, start=1)]
    assert seen["temps"][: len(probes)] == probes
    assert seen["sinks"] == len(result.sinks)
    assert not seen["failsafe"] and seen["offline"] is None


def test_the_page_shows_the_simulated_reading_and_the_policys_limits(desktop, browser, live) -> None:
    desktop.wait_for("Number(document.body.dataset.cycle) > 2", what="a live cycle")
    first = read_page(desktop)
    check_matches_result(first, live)
    reading = live.result(first["cycle"]).reading
    assert reading is not None
    assert reading.cell_count == live.sim.cells == 16
    assert reading.current_a == live.sim.current_a == 20.0  # the simulator's current, as the BMS said it
    assert live.result(first["cycle"]).limits.reasons[0].startswith("charge ")  # the ladder's own words

    desktop.wait_for(f"Number(document.body.dataset.cycle) > {first['cycle'] + 2}", what="the next cycles")
    check_matches_result(read_page(desktop), live)  # live: it follows the gateway without a reload
    desktop.wait_for("Number(document.body.dataset.historyPoints) >= 1", what="the 24 h chart")
    assert desktop.evaluate("document.querySelectorAll('#charts canvas').length") == 4
    desktop.screenshot(ARTIFACTS / "web-desktop.png")

    phone = browser.page(*PHONE, mobile=True)
    try:
        phone.goto(live.url)
        phone.wait_for("Number(document.body.dataset.cycle) > 0 && document.body.dataset.historyPoints")
        seen = read_page(phone)
        check_matches_result(seen, live)
        assert seen["width"] <= PHONE[0], "the page is wider than a 360 px phone"
        phone.screenshot(ARTIFACTS / "web-phone-360.png")
    finally:
        phone.close()


@pytest.mark.parametrize("fault", ["silence", "nonsense"])
def test_a_bms_fault_brings_the_failsafe_banner_and_recovery_takes_it_away(desktop, live, fault) -> None:
    desktop.wait_for("document.getElementById('failsafe').hidden && Number(document.body.dataset.cycle) > 0")
    live.sim.inject(fault)
    try:
        desktop.wait_for(
            "!document.getElementById('failsafe').hidden", what=f"the fail-safe banner ({fault})"
        )
        seen = read_page(desktop)
    finally:
        live.sim.clear_faults()
    limits = live.result(seen["cycle"]).limits
    assert limits.fault is not None and limits.is_stop
    assert seen["failsafeReasons"] == list(limits.reasons)
    assert seen["text"]["failsafe-fault"] == limits.fault.value.replace("_", " ")
    assert seen["text"]["l-ccl"] == "0.0 A" and seen["text"]["l-dcl"] == "0.0 A"
    assert seen["title"].startswith("FAIL-SAFE")
    if fault == "silence":
        assert seen["text"]["v-voltage"] == "\u2013"  # no reading backs the stop: none is shown
        desktop.screenshot(ARTIFACTS / "web-failsafe-desktop.png")

    desktop.wait_for("document.getElementById('failsafe').hidden", what="the banner to go on recovery")
    recovered = read_page(desktop)
    check_matches_result(recovered, live)
    assert recovered["title"] == "battery-gateway"


def test_a_bank_its_frames_the_obedience_warning_and_hostile_strings(browser) -> None:
    clock = FakeClock(10_000.0)
    observer = make_observer(clock)
    observer.open()
    hostile = '<img src=x onerror="window.pwned=1"> & </li><script>window.pwned=2</script>'
    reading = rich_reading(clock, current_a=25.0)
    pack_reading = rich_reading(clock, current_a=12.5)
    packs = (
        PackResult(
            "pack1", "jk_uart", True, pack_reading, Limits(25.0, 30.0, reasons=("pack1: " + hostile,))
        ),
        PackResult("<b>pack2</b>", "jk_uart", False, None, None, (Problem("source", "pack2", "no reply"),)),
    )
    limits = Limits(
        50.0, 60.0, 55.2, 50.4, ALLOW.flags, ("charge 50 A: " + hostile,), charge_state="absorption"
    )
    sink = pylontech_sink(
        reading,
        limits,
        peer_seen_at_s=clock.now() - 2.0,
        limits_ignored=True,
        problems=("charges 80 A " + hostile,),
    )
    observer.gateway_cycle_completed(
        make_result(clock, cycle=5, reading=reading, limits=limits, packs=packs, sinks=(sink,))
    )
    page = browser.page(*DESKTOP)
    try:
        assert observer.url is not None
        page.goto(observer.url)
        page.wait_for("document.body.dataset.cycle === '5'")
        seen = read_page(page)
        assert seen["text"]["battery-title"] == "Bank (2 packs)"
        assert seen["reasons"] == ["charge 50 A: " + hostile]  # shown as text, exactly
        assert seen["text"]["l-state"] == "absorption"
        assert page.evaluate("document.querySelectorAll('img, script:not([src]), b').length") == 0
        assert page.evaluate("window.pwned === undefined")
        cards = page.evaluate("[...document.querySelectorAll('#packs .pack h2')].map(h => h.textContent)")
        assert cards == ["pack1 (jk_uart) online", "<b>pack2</b> (jk_uart) OFFLINE"]
        frames = page.evaluate(
            "[...document.querySelectorAll('#sinks .frame')].map(f => [f.querySelector('.id').textContent, "
            "f.querySelector('.summary') && f.querySelector('.summary').textContent])"
        )
        assert [f[0] for f in frames] == ["0x351", "0x355", "0x356", "0x359", "0x35C", "0x35E"]
        assert frames[0][1] == "CVL 55.2 V  CCL 50.0 A  DCL 60.0 A  DVL 50.4 V"
        assert seen["obedience"]
        warnings = page.evaluate(
            "[...document.querySelectorAll('#obedience-list li')].map(li => li.textContent)"
        )
        assert warnings == ["pylontech: charges 80 A " + hostile]
        assert seen["text"]["peer"] == "The inverter was last heard 2.0 s ago."
        page.screenshot(ARTIFACTS / "web-bank-desktop.png")

        clock.advance(12.0)  # no new cycle: the loop has stopped
        page.wait_for("!document.getElementById('offline').hidden", what="the stopped-gateway banner")
        assert "No new cycle for 12 s" in read_page(page)["offline"]
    finally:
        page.close()
        observer.close()


def a_day_of_cycles(clock: FakeClock, observer) -> None:
    """One cycle a minute for 24 h: a pack charging by day and discharging by night, one fail-safe hour."""
    import math

    from gateway_core.model import Fault

    for minute in range(1440):
        phase = math.sin(2 * math.pi * minute / 1440)
        current = round(40.0 * phase, 1)
        soc = 50.0 + 40.0 * math.sin(2 * math.pi * (minute - 360) / 1440)
        cell = round(3.28 + 0.0015 * (soc - 50) / 4 + 0.0004 * current, 3)
        cells = tuple(round(cell + 0.001 * (i % 5), 3) for i in range(16))
        reading = rich_reading(
            clock, current_a=current, soc_pct=soc, cell_voltages_v=cells, voltage_v=round(sum(cells), 2)
        )
        limits = replace(
            ALLOW,
            reasons=(
                f"charge 50 A: highest cell {reading.max_cell_v:.3f} V >= 3.00 V",
                f"discharge 60 A: lowest cell {reading.min_cell_v:.3f} V >= 3.10 V",
                "CVL 55.20 V: 3.45 V x 16 cells",
                "DVL 50.40 V: 3.15 V x 16 cells",
            ),
        )
        if 900 <= minute < 960:
            result = make_result(
                clock, cycle=minute + 1, limits=Limits.stop("no reply from the BMS", Fault.STALE_READING)
            )
        elif minute == 1439:  # the latest cycle also shows what went on the bus
            sink = pylontech_sink(reading, limits, peer_seen_at_s=clock.now() - 0.4)
            result = make_result(clock, cycle=minute + 1, reading=reading, limits=limits, sinks=(sink,))
        else:
            result = make_result(clock, cycle=minute + 1, reading=reading, limits=limits)
        observer.gateway_cycle_completed(result)
        clock.advance(60.0)


def test_a_full_day_of_history_in_the_chart(browser) -> None:
    clock = FakeClock(100_000.0)
    observer = make_observer(clock)
    observer.open()
    a_day_of_cycles(clock, observer)
    clock.advance(-59.5)  # the last cycle was half a second ago
    for size, name in ((DESKTOP, "web-day-desktop.png"), (PHONE, "web-day-phone-360.png")):
        page = browser.page(*size, mobile=size == PHONE)
        try:
            assert observer.url is not None
            page.goto(observer.url)
            page.wait_for("document.body.dataset.historyPoints === '1440'", what="a day of minutes")
            assert read_page(page)["width"] <= size[0]
            page.screenshot(ARTIFACTS / name)
        finally:
            page.close()
    observer.close()
