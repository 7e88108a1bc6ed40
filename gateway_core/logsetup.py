"""Logging for the CLI: plain lines, no timestamps under the systemd journal."""

from __future__ import annotations

import logging
import os
import sys

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
