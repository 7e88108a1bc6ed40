"""The I/O of ``gateway pylontech monitor``: open the bus, run the view, map every failure to a line."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from .profile import Profile


def watch(
    interface: str,
    channel: str,
    bitrate: int,
    options: dict[str, Any],
    profile: Profile,
    seconds: float | None,
    refresh: float,
) -> tuple[int, str]:
    """Show the bus until ``seconds`` pass or Ctrl-C. Returns (exit code, error line or "")."""
    import can

    from gateway_core.clock import MonotonicClock

    from .monitor import run_monitor
    from .slcanbus import open_bus

    where = f"{interface} {channel}"
    try:
        bus = open_bus(interface=interface, channel=channel, bitrate=bitrate, **options)
    except (can.CanError, OSError, ValueError, TypeError, ImportError) as exc:
        return 1, f"cannot open CAN bus {where}: {_text(exc)}"
    clear = sys.stdout.isatty()

    def show(lines: list[str]) -> None:
        prefix = "\x1b[H\x1b[2J" if clear else ""
        sys.stdout.write(prefix + "\n".join(lines) + ("\n" if clear else "\n\n"))
        sys.stdout.flush()

    title = f"bus {where}  (profile {profile.name})"
    expected = tuple(profile.variants)
    try:
        run_monitor(
            bus,
            MonotonicClock(),
            show,
            refresh_s=refresh,
            duration_s=seconds,
            title=title,
            expected=expected,
            variants=profile.variants,
        )
    except KeyboardInterrupt:
        pass
    except (can.CanError, OSError) as exc:
        return 1, f"bus {where} failed: {_text(exc)}"
    finally:
        with contextlib.suppress(Exception):  # a broken adapter must not end in a traceback
            bus.shutdown()
    return 0, ""


def _text(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).replace("\n", " ")
