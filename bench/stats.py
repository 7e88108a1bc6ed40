"""Summaries of repeated measurements, and a description of the machine they ran on."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and spread of ``n`` samples of one figure, in ``unit``."""

    name: str
    unit: str
    n: int
    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    note: str = ""

    @property
    def iqr(self) -> float:
        """Interquartile range (q3 - q1)."""
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the IQR added."""
        data = asdict(self)
        data["iqr"] = self.iqr
        return data

    def line(self) -> str:
        """One aligned line: name, median, IQR and min-max with the unit."""
        return (
            f"{self.name:<58} {_fmt(self.median):>10} {self.unit:<6} "
            f"IQR {_fmt(self.iqr):>9}  min {_fmt(self.minimum):>9}  max {_fmt(self.maximum):>9}  "
            f"(n={self.n}){'  ' + self.note if self.note else ''}"
        )


def summarize(name: str, unit: str, samples: Sequence[float], note: str = "") -> Summary:
    """Median, quartiles, min and max of ``samples`` (at least one).

    :raises ValueError: no samples.
    """
    if not samples:
        raise ValueError(f"{name}: no samples")
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return Summary(
        name, unit, len(ordered), statistics.median(ordered), q1, q3, ordered[0], ordered[-1], note
    )


def exact(name: str, unit: str, value: float, note: str = "") -> Summary:
    """A computed (not measured) figure, shown in the same table with no spread."""
    return Summary(name, unit, 1, value, value, value, value, value, note)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo ("model name" on x86, "Model"/"Hardware" on a Pi)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "Hardware", "cpu model") and key not in found:
            found[key] = value.strip()
    for key in ("model name", "Model", "cpu model", "Hardware"):
        if found.get(key):
            return found[key]
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on: OS, CPU, cores, Python and key library versions."""
    from importlib.metadata import PackageNotFoundError, version

    libraries: dict[str, str] = {}
    for dist in ("battery-gateway", "python-can", "cantools", "pyserial", "pluggy"):
        try:
            libraries[dist] = version(dist)
        except PackageNotFoundError:
            libraries[dist] = "not installed"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": libraries,
    }
