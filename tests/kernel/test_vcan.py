"""The Pylontech sink on a real kernel ``vcan0``, watched by ``candump``: frames, outages, SIGTERM.

All from one VM run (see ``tests/kernel/guest.py``); each test reads its scenario's slice.
"""

from __future__ import annotations

import re

import pytest

from tests.kernel import canlog
from tests.kernel.frames_check import Reference, allows, check_sets, is_stop, reference
from tests.kernel.results import Results
from tests.kernel.vm import VM_TIMEOUT_S

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(VM_TIMEOUT_S + 120)]

PERIOD_S = 1.0
SKIPPED = re.compile(r"cycle overran its period; skipped (\d+) slot")


@pytest.fixture(scope="module")
def ref() -> Reference:
    return reference()


def vcan(results: Results, start_s: float, end_s: float = float("inf")) -> list[canlog.Frame]:
    return canlog.between(canlog.on(results.candump, "vcan0"), start_s, end_s)


def test_frames_every_period_say_what_the_bms_says(kernel_run: Results, ref: Reference) -> None:
    kernel_run.require("steady")
    frames = vcan(kernel_run, kernel_run.at("gateway_start"), kernel_run.at("down_cut"))
    sets = canlog.frame_sets(frames)
    check_sets(sets[:-1], ref, at_least=5)  # the last one may straddle the end of the window
    # One set per period: a slot without a set is one the loop says it skipped (an overrun), and
    # no slot has two. Counted in slots, so the emulated machine's jitter (< 0.8 period) cancels.
    slots = (sets[-1][0].at_s - sets[0][0].at_s) / PERIOD_S
    skipped = sum(int(found) for found in SKIPPED.findall("\n".join(kernel_run.log_lines("", "down_cut"))))
    assert len(sets) - 1 + skipped >= slots - 1, (len(sets), skipped, slots)
    assert len(sets) - 1 <= slots + 1, (len(sets), slots)


@pytest.mark.parametrize(
    ("outage", "reason"),
    [("down", "Network is down"), ("delete", "No such device")],
    ids=["ip-link-down-up", "ip-link-del-recreate"],
)
def test_an_outage_is_logged_once_retried_with_backoff_and_frames_resume(
    kernel_run: Results, ref: Reference, outage: str, reason: str
) -> None:
    kernel_run.require(outage)
    lines = kernel_run.log_lines(f"{outage}_cut", f"{outage}_done")
    lost = [line for line in lines if "sink 'vcan' lost:" in line]
    assert len(lost) == 1, lost
    assert reason in lost[0]
    delays = kernel_run.backoff_s(lines, "vcan")
    assert delays[:2] == [2, 4], lines  # the first reopen came 1 s after the loss
    assert len([line for line in lines if "sink 'vcan' is back after" in line]) == 1
    # While vcan0 was gone, every attempt failed: nothing but "still down" until the mend.
    until_mend = kernel_run.log_lines(f"{outage}_cut", f"{outage}_mend")
    assert not [line for line in until_mend if "sink 'vcan' is back" in line]
    resumed = vcan(kernel_run, kernel_run.at(f"{outage}_mend"), kernel_run.at(f"{outage}_done"))
    check_sets(canlog.frame_sets(resumed)[:-1], ref, at_least=1)  # the last may straddle the end


def test_the_other_sink_is_never_reopened_by_a_vcan_outage(kernel_run: Results) -> None:
    kernel_run.require("delete")
    lines = kernel_run.log_lines("down_cut", "delete_done")
    assert not [line for line in lines if "sink 'slcan'" in line]


def test_sigterm_leaves_stop_limits_as_the_last_0x351_on_vcan0(kernel_run: Results, ref: Reference) -> None:
    kernel_run.require("sigterm")
    assert kernel_run.event("gateway_exit")["rc"] == 0
    after = vcan(kernel_run, kernel_run.at("sigterm"))
    limits = [f for f in after if f.arbitration_id == canlog.LIMITS_ID]
    assert limits and is_stop(limits[-1])
    assert len([f for f in limits if is_stop(f)]) == 1  # the stop set, once
    assert all(allows(f, ref) for f in limits[:-1])  # the cycle in flight, if any, was a normal one
    requests = [f for f in after if f.arbitration_id == canlog.REQUESTS_ID]
    assert requests[-1].data[0] & 0xC0 == 0  # neither charge nor discharge enabled
    assert not vcan(kernel_run, kernel_run.at("gateway_exit"))
