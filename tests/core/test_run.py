"""`gateway run` end to end through the CLI, observers, and the example third-party plugin."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
from typer.testing import CliRunner

from gateway_core import hookimpl
from gateway_core.cli import build_app
from gateway_core.errors import StartupError
from gateway_core.model import CycleResult, Fault, Limits
from gateway_core.plugins import make_plugin_manager
from gateway_core.runner import build_gateway, run_gateway
from tests.core.helpers import ScriptedPlugins, manager_with
from tests.fakes import FakeClock

FAST = ["--set", "gateway.period=0.05", "--set", "gateway.stale_after=1"]


def test_run_cycles_through_the_cli_and_ends_with_stop_limits():
    plugins = ScriptedPlugins()
    result = CliRunner().invoke(
        build_app(manager_with(plugins)),
        ["run", "--source", "fake", "--policy", "fixed", "--sink", "memory", "--cycles", "3", *FAST],
    )
    assert result.exit_code == 0, result.output
    (sink,) = plugins.sinks
    assert len(sink.published) == 4
    assert [lim.fault for lim in sink.limits[:3]] == [None, None, None]
    assert sink.limits[-1].fault is Fault.SHUTDOWN


def test_source_flag_wins_over_set_and_set_reaches_the_plugin_config():
    plugins = ScriptedPlugins()
    result = CliRunner().invoke(
        build_app(manager_with(plugins)),
        [
            "run",
            "--set",
            "gateway.source=nope",
            "--source",
            "fake",
            "--policy",
            "fixed",
            "--sink",
            "memory",
            "--set",
            "fake.port=/dev/ttyUSB1",
            "--cycles",
            "1",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert plugins.configs[0].port == "/dev/ttyUSB1"


class Recorder:
    def __init__(self) -> None:
        self.results: list[CycleResult] = []
        self.closed = False
        self.opened = 0

    def open(self) -> None:
        self.opened += 1

    @hookimpl
    def gateway_cycle_completed(self, result):
        self.results.append(result)

    def close(self) -> None:
        self.closed = True


def result_at(cycle: int) -> CycleResult:
    return CycleResult(cycle, float(cycle), None, Limits(1.0, 1.0), True)


def test_hook_gateway_cycle_completed():
    recorder = Recorder()

    class Obs:
        @hookimpl
        def gateway_register_observers(self, register):
            register("recorder", lambda config, ctx: recorder, description="records results")

    clock = FakeClock()
    gateway = build_gateway(
        manager_with(ScriptedPlugins(), Obs()),
        config_path=None,
        overrides=[
            "gateway.source=fake",
            "gateway.policy=fixed",
            "gateway.sink=memory",
            'gateway.observers=["recorder"]',
        ],
        clock=clock,
        threaded=False,
        max_cycles=4,
    )
    assert run_gateway(gateway, install_signals=False) == 0
    assert [r.cycle for r in recorder.results] == [1, 2, 3, 4, 5]
    assert all(r.published and r.reading is not None for r in recorder.results[:4])
    assert recorder.results[-1].limits.fault is Fault.SHUTDOWN and recorder.opened == 1
    assert recorder.results[0].source == "fake" and recorder.results[0].sink == "memory"
    assert recorder.closed


def run_with_observer(observer: object, *extra: str):
    class Obs:
        @hookimpl
        def gateway_register_observers(self, register):
            register("metrics", lambda config, ctx: observer)

    plugins = ScriptedPlugins()
    result = CliRunner().invoke(
        build_app(manager_with(plugins, Obs())),
        [
            *("run", "--source", "fake", "--policy", "fixed", "--sink", "memory"),
            *("--set", 'gateway.observers=["metrics"]', *extra, *FAST),
        ],
    )
    return result, plugins


def test_an_observer_that_cannot_open_never_keeps_frames_from_the_inverter():
    class Taken(Recorder):
        def open(self) -> None:
            self.opened += 1
            raise OSError("127.0.0.1:9108 is in use")

    taken = Taken()
    result, plugins = run_with_observer(taken, "--cycles", "3")
    assert result.exit_code == 0, result.output
    sink = plugins.sinks[0]
    assert [lim.fault for _, lim in sink.published][:3] == [None, None, None]  # frames flowed
    expected = "observer 'metrics' could not start: 127.0.0.1:9108 is in use; frames go on, retrying"
    assert result.output.count(expected) == 1
    assert taken.results == [] and taken.closed  # never fed while not open, closed at the end


def test_an_observer_open_is_retried_with_backoff_until_it_works(monkeypatch):
    from gateway_core import notifier as notifier_module

    now = [0.0]
    monkeypatch.setattr("gateway_core.notifier.time.monotonic", lambda: now[0])

    class Flaky(Recorder):
        def open(self) -> None:
            self.opened += 1
            if self.opened < 3:
                raise OSError("port taken")

    flaky = Flaky()
    pm = manager_with()
    notifier = notifier_module.ObserverNotifier(pm, threaded=False)
    pm.register(flaky, name="observer:metrics")
    with pytest.raises(OSError):
        flaky.open()  # what run_gateway does first
    notifier.retry_open("metrics", flaky, flaky.open)
    for second in range(10):
        now[0] = float(second)
        notifier.submit(result_at(second))
    assert flaky.opened == 3  # due after 1 s, then 2 s more: backoff, not once per cycle
    assert [r.cycle for r in flaky.results] == [3, 4, 5, 6, 7, 8, 9]


def test_an_observer_refusing_with_a_startup_error_stops_the_start_with_exit_2():
    class Misconfigured(Recorder):
        def open(self) -> None:
            raise StartupError("web.listen 127.0.0.1:8080 is in use")

    observer = Misconfigured()
    result, _ = run_with_observer(observer, "--cycles", "1")
    assert result.exit_code == 2
    assert "observer 'metrics' could not start: web.listen 127.0.0.1:8080 is in use" in result.output
    assert observer.closed


def test_a_failing_observer_never_stops_the_loop():
    class Exploding:
        @hookimpl
        def gateway_cycle_completed(self, result):
            raise RuntimeError("observer bug")

    plugins = ScriptedPlugins()
    gateway = build_gateway(
        manager_with(plugins, Exploding()),
        config_path=None,
        overrides=["gateway.source=fake", "gateway.policy=fixed", "gateway.sink=memory"],
        clock=FakeClock(),
        threaded=False,
        max_cycles=5,
    )
    run_gateway(gateway, install_signals=False)
    assert len(plugins.sinks[0].published) == 6


def test_example_third_party_plugin_is_installed_and_found_through_its_entry_point():
    found = {ep.name: ep.value for ep in entry_points(group="battery_gateway")}
    assert found.get("const") == "const_source", "pip install examples/const_source (done by .ci/run)"


def test_example_third_party_plugin_runs_end_to_end_in_process():
    pm = make_plugin_manager()
    plugins = ScriptedPlugins()
    pm.register(plugins, name="test-sinks")
    result = CliRunner().invoke(
        build_app(pm),
        [
            "run",
            "--source",
            "const",
            "--sink",
            "memory",
            "--policy",
            "fixed",
            "--cycles",
            "3",
            "--set",
            "const.cell_voltage=3.25",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    readings = [reading for reading, _ in plugins.sinks[0].published[:3]]
    assert len(readings) == 3
    assert all(r is not None and r.cell_voltages_v == (3.25,) * 16 for r in readings)


def gateway_command() -> list[str]:
    exe = shutil.which("gateway", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "gateway_core"]


def test_example_third_party_plugin_runs_through_the_installed_command():
    proc = subprocess.run(
        [
            *gateway_command(),
            "run",
            "--source",
            "const",
            "--sink",
            "pylontech",
            "--cycles",
            "3",
            "--set",
            "pylontech.interface=virtual",
            "--set",
            "pylontech.channel=example-e2e",
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "stopped after 3 cycles" in proc.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1])
def test_every_terminating_signal_publishes_stop_and_exits_0(tmp_path, signum):
    proc = subprocess.Popen(
        [
            *gateway_command(),
            "run",
            "--source",
            "const",
            "--sink",
            "pylontech",
            "--policy",
            "limit_ladder",
            "--set",
            "pylontech.interface=virtual",
            "--set",
            "pylontech.channel=sigterm-test",
            *FAST,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # wait until the loop runs (handlers installed), however slow the machine
        seen.append(line)
        if "limits:" in line:
            break
    proc.send_signal(signum)
    _, rest = proc.communicate(timeout=30)
    err = "".join(seen) + rest
    assert proc.returncode == 0, err
    assert f"received {signal.Signals(signum).name}" in err and "publishing stop limits once" in err


@pytest.mark.parametrize("flag", ["--version"])
def test_version(flag):
    result = CliRunner().invoke(build_app(make_plugin_manager(entry_points=False)), [flag])
    assert result.exit_code == 0 and result.output.startswith("gateway (battery-gateway) ")


def test_gateway_run_imports_no_plugin_command_module_but_the_other_commands_have_them() -> None:
    """``gateway run`` skips every plugin's CLI module (about 100 ms of start-up); ``--help`` lists them."""
    script = textwrap.dedent(
        """
        import sys
        from gateway_core.cli import main
        try:
            main(sys.argv[1:])
        except SystemExit:
            pass
        print(sorted(m for m in sys.modules if m.endswith((".cli", ".demo")) and m != "gateway_core.cli"))
        """
    )
    run_args = ["run", "--source", "jk_uart", "--sink", "pylontech", "--cycles", "2", "--log-level", "error"]
    run_args += ["--set", "jk_uart.port=jksim://?cells=16", "--set", "pylontech.interface=virtual"]
    run_args += ["--set", "pylontech.channel=no-plugin-cli"]
    python = [sys.executable, "-c", script]
    ran = subprocess.run([*python, *run_args], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "[]"
    helped = subprocess.run([*python, "--help"], capture_output=True, text=True, timeout=60)
    *help_text, modules = helped.stdout.strip().splitlines()
    assert "jk_uart.cli" in modules and "pylontech_can.cli" in modules
    assert any(line.split()[:1] == ["pylontech"] for line in help_text)  # its command group is listed
