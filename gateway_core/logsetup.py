"""Logging for the CLI: plain lines, no timestamps under the systemd journal."""

from __future__ import annotations

import logging
import os
import sys


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not the one at set-up time),
    so a replaced stderr (a test runner's, a closed terminal's) never makes logging fail."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def setup_logging(level: str = "info") -> None:
    """Log to stderr; the journal (``JOURNAL_STREAM`` set) adds its own timestamps, so we do not."""
    try:
        numeric = LEVELS[level.lower()]
    except KeyError:
        print(f"gateway: error: --log-level {level!r}; accepted: {', '.join(LEVELS)}", file=sys.stderr)
        raise SystemExit(2) from None
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
