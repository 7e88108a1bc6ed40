"""``gateway run`` as systemd starts it (Type=notify): the real process talks sd_notify over NOTIFY_SOCKET."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from tests.core.test_sdnotify import NotifySocket
from tests.e2e.test_demo import gateway_script


def test_gateway_run_notifies_ready_watchdog_status_and_stopping() -> None:
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as tmp:
        path = str(Path(tmp) / "notify")
        listener = NotifySocket(path)
        try:
            result = subprocess.run(
                [
                    gateway_script(),
                    "run",
                    "--config",
                    os.devnull,
                    "--source",
                    "jk_uart",
                    "--sink",
                    "pylontech",
                    "--set",
                    'jk_uart.port="jksim://?cells=16"',
                    "--set",
                    "pylontech.interface=virtual",
                    "--set",
                    f"pylontech.channel=notify-{os.getpid()}",
                    "--set",
                    "gateway.period=0.1",
                    "--cycles",
                    "4",
                ],
                env={**os.environ, "NOTIFY_SOCKET": path},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            messages = listener.wait_until("STOPPING=1")
        finally:
            listener.close()

    assert messages[0] == "READY=1"
    assert messages.count("WATCHDOG=1") == 4
    assert messages[-1] == "STOPPING=1"
    statuses = [m for m in messages if m.startswith("STATUS=")]
    assert statuses and statuses[0].startswith("STATUS=charge ")
