"""What the VM left in its shared directory, read back on the host (see ``tests/kernel/guest.py``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.kernel import canlog

_NEXT_TRY = re.compile(r"next try in (\d+) s")


@dataclass(frozen=True, slots=True)
class Results:
    """Events, frames and logs of one VM run."""

    outdir: Path
    events: tuple[dict[str, Any], ...]
    candump: tuple[canlog.Frame, ...]
    adapter: tuple[canlog.Frame, ...]
    log: bytes

    @classmethod
    def load(cls, outdir: Path) -> Results:
        """Read every file the scenario script writes (missing ones read as empty)."""
        events_file = outdir / "events.jsonl"
        events = (
            tuple(json.loads(line) for line in events_file.read_text().splitlines() if line.strip())
            if events_file.exists()
            else ()
        )
        adapter_file = outdir / "adapter.jsonl"
        adapter = tuple(canlog.read_frames(adapter_file)) if adapter_file.exists() else ()
        log_file = outdir / "gateway.log"
        return cls(
            outdir,
            events,
            tuple(canlog.read_candump(outdir / "candump.log")),
            adapter,
            log_file.read_bytes() if log_file.exists() else b"",
        )

    # -- events -----------------------------------------------------------------------------

    def event(self, name: str) -> dict[str, Any]:
        """The first event called ``name``; fails the test (with the VM's problems) if there is none."""
        for event in self.events:
            if event["event"] == name:
                return event
        pytest.fail(f"the VM recorded no {name!r} step; {self.problems('') or 'no problem recorded'}")

    def at(self, name: str) -> float:
        """When event ``name`` happened (``time.time()`` in the guest)."""
        return float(self.event(name)["t"])

    def problems(self, scenario: str) -> str:
        """Timeouts of ``scenario`` (its prefix, '' for all) and every error, as one line."""
        found = [
            event.get("what") or event.get("error", "")
            for event in self.events
            if (event["event"] == "timeout" and str(event.get("what", "")).startswith(scenario))
            or event["event"] == "error"
        ]
        return "; ".join(str(text) for text in found)

    def require(self, scenario: str) -> None:
        """Fail at once, with what went wrong in the VM, if ``scenario`` did not run through."""
        problems = self.problems(scenario)
        if problems:
            pytest.fail(f"{scenario} scenario in the VM: {problems} (see {self.outdir})")

    # -- the gateway's log ----------------------------------------------------------------

    def log_lines(self, start: str, end: str) -> list[str]:
        """Log lines written between events ``start`` ('' = the beginning) and ``end`` (by ``log_offset``)."""
        begin = self.event(start)["log_offset"] if start else 0
        stop = self.event(end)["log_offset"]
        return self.log[begin:stop].decode("utf-8", "replace").splitlines()

    @staticmethod
    def backoff_s(lines: list[str], sink: str) -> list[int]:
        """The delays (s) the engine announced after each failed reopen of ``sink``."""
        delays = []
        for line in lines:
            match = _NEXT_TRY.search(line)
            if match and f"sink '{sink}' still down" in line:
                delays.append(int(match[1]))
        return delays
