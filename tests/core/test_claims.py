"""One gateway per port: a second process cannot claim a port the first one uses (issue 23.15)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from gateway_core.claims import Claims, PortInUse

HOLDER = """
import sys, time
from gateway_core.claims import Claims
Claims().claim(sys.argv[1], "first")
print("held", flush=True)
time.sleep(30)
"""


def test_a_second_process_is_refused_with_one_line_and_gets_the_port_once_the_first_ends():
    resource = f"serial:/dev/test-{uuid.uuid4().hex}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, resource], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(PortInUse) as info:
            Claims().claim(resource, "pack1")
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"pack1: {resource} is in use by another")
    finally:
        holder.kill()
        holder.wait()
    mine = Claims()
    mine.claim(resource, "pack1")  # the kernel released the dead process's claim
    mine.release()


def test_gateways_of_one_process_share_a_claim_until_the_last_lets_go():
    resource = f"can:socketcan:test-{uuid.uuid4().hex[:8]}"
    first, second = Claims(), Claims()
    first.claim(resource, "sink1")
    second.claim(resource, "sink1")
    first.release()
    code = "import sys; from gateway_core.claims import Claims; Claims().claim(sys.argv[1], 'x')"
    probe = subprocess.run([sys.executable, "-c", code, resource], capture_output=True, text=True)
    assert probe.returncode != 0 and "PortInUse" in probe.stderr  # still held by `second`
    second.release()
