"""Shared helpers for the sma_em tests: the reference datagrams, a free UDP port, a unicast sender."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).parent / "data" / "sma_em_datagrams.txt"
WAIT_S = 5.0


def load_datagrams() -> dict[str, bytes]:
    """The reference datagrams of ``data/sma_em_datagrams.txt`` by name."""
    found: dict[str, bytes] = {}
    name = ""
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("datagram:"):
            found[name] = bytes.fromhex(line.split(":", 1)[1])
    return found


DATAGRAMS = load_datagrams()


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send(port: int, *datagrams: bytes) -> None:
    """Send each datagram to 127.0.0.1:``port`` (unicast, loopback only: never the LAN or a group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in datagrams:
            sock.sendto(data, ("127.0.0.1", port))


def wait_until(predicate: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` s (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
