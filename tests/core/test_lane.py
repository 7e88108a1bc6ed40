"""The worker lane: deadlines, a hung job abandoned, BaseExceptions failing safe, exit never blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from gateway_core.engine import Engine, PluginNames
from gateway_core.lane import ThreadLane
from gateway_core.model import Fault
from tests.fakes import FakeSink, FakeSource, FixedPolicy, make_reading


def test_a_hung_job_is_late_then_busy_then_the_lane_recovers():
    lane = ThreadLane()
    release = threading.Event()
    assert lane.run(lambda: 7, 5.0).value == 7
    late = lane.run(release.wait, 0.05)
    assert late.value is None and "late" in (late.problem or "")
    busy = lane.run(lambda: 8, 0.05)
    assert busy.value is None and "busy" in (busy.problem or "")
    release.set()
    for _ in range(500):  # bounded: the abandoned job returns as soon as it is released
        outcome = lane.run(lambda: 9, 1.0)
        if outcome.value == 9:
            break
        time.sleep(0.01)
    assert outcome.value == 9
    lane.close()


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
@pytest.mark.parametrize("where", ["source", "policy", "sink"])
def test_a_plugin_raising_a_base_exception_fails_safe_and_the_loop_goes_on(clock, where, error):
    source, policy, sink = FakeSource(clock), FixedPolicy(), FakeSink(clock)
    engine = Engine(
        source, policy, sink, names=PluginNames("s", "p", "k"), clock=clock, period_s=1.0, stale_after_s=0.5
    )
    engine.start()
    if where == "source":
        source.steps.append(error)
    elif where == "policy":
        policy.fail_with = error
    else:
        sink.fail_with = error
    result = engine.cycle()
    if where == "sink":
        assert not result.published and result.problems[-1].role == "sink"
    else:
        expected = Fault.NO_READING if where == "source" else Fault.POLICY_ERROR
        assert result.limits.fault is expected and sink.limits[-1].is_stop


def test_a_source_that_hangs_for_ever_does_not_keep_the_process_alive():
    script = textwrap.dedent(
        """
        import threading
        from gateway_core.clock import MonotonicClock
        from gateway_core.engine import Engine, PluginNames
        from gateway_core.lane import ThreadLane
        from gateway_core.loop import GatewayLoop
        from tests.fakes import FakeSink, FakeSource, FixedPolicy

        clock = MonotonicClock()
        source = FakeSource(clock, default=lambda: threading.Event().wait())  # never returns
        sink = FakeSink(clock)
        engine = Engine(source, FixedPolicy(), sink, names=PluginNames("s", "p", "k"), clock=clock,
                        period_s=0.05, stale_after_s=0.1, lane=ThreadLane())
        GatewayLoop(engine, clock=clock, period_s=0.05, max_cycles=3).run()
        assert all(limits.is_stop for limits in sink.limits), sink.limits
        print("faults", [limits.fault.value for limits in sink.limits])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "faults ['timeout', 'timeout', 'timeout', 'shutdown']" in proc.stdout


def test_make_reading_helper_is_plausible(clock):
    from gateway_core.plausibility import implausibility

    assert implausibility(make_reading(clock)) is None
