"""The policy memory file (I/O at the edge): where it lives, the boot id, atomic writes off the cycle.

Where: ``limit_ladder.state_dir`` when set; else ``$STATE_DIRECTORY``, which systemd sets for the
unit's ``StateDirectory=battery-gateway`` (``/var/lib/battery-gateway``); else nowhere. A plain
foreground ``gateway run`` (a test on the bench, the demo) therefore keeps no memory and never reads a
service's file or litters the working directory; give ``--set limit_ladder.state_dir=/path`` to try it.
One file per pack, ``<pack>.json`` (the source instance, or the policy's name for a single pack).

Writes are atomic (a temporary file in the same directory, fsync, rename, fsync of the directory),
so a power cut leaves the old file or the new one, never half of one. They run on a writer thread
that always writes the newest memory, so a stalled SD card never holds up the control cycle.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
#: Where the boot id comes from when /proc/sys is hidden (systemd ``ProcSubset=pid``): a unit line
#: ``Environment=BATTERY_GATEWAY_BOOT_ID=%b`` (systemd's boot id specifier).
BOOT_ID_ENV = "BATTERY_GATEWAY_BOOT_ID"
MAX_BYTES = 64 * 1024

BootIdReader = Callable[[], str | None]


def _boot_id(text: str) -> str | None:
    text = text.strip().replace("-", "").lower()
    return text if re.fullmatch(r"[0-9a-f]{32}", text) else None


def read_boot_id(path: Path = BOOT_ID_PATH, environ: Mapping[str, str] | None = None) -> str | None:
    """This boot's id (a new one after every reboot, 32 hex digits), or ``None`` when unknown.

    Read from the kernel, else from ``$BATTERY_GATEWAY_BOOT_ID``.
    """
    try:
        found = _boot_id(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError):
        found = None
    if found is None:
        found = _boot_id((os.environ if environ is None else environ).get(BOOT_ID_ENV, ""))
    return found


def state_dir(configured: str, environ: Mapping[str, str]) -> Path | None:
    """The directory of the memory files, or ``None`` when the memory is not kept (see the module)."""
    if configured:
        return Path(configured)
    systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(systemd) if systemd and os.path.isabs(systemd) else None


def file_name(pack: str) -> str:
    """``<pack>.json`` with anything but letters, digits, ``-`` and ``_`` replaced."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", pack or "limit_ladder") + ".json"


class StateFile:
    """One memory file: read it (only a small regular JSON file), write it atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> object | None:
        """The parsed JSON, or ``None`` when there is no file. :raises ValueError: unreadable or corrupt."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot open it: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ValueError("it is not a regular file")
            data = os.read(fd, MAX_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read it: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        if len(data) > MAX_BYTES:
            raise ValueError(f"it is larger than {MAX_BYTES} bytes")
        try:
            parsed: object = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"it is not JSON ({str(exc).splitlines()[0][:80]})") from None
        return parsed

    def write(self, document: Mapping[str, Any]) -> None:
        """Replace the file atomically with ``document``. :raises OSError:."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n"
        tmp = directory / f".{self.path.name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class Saver:
    """Writes the newest document on a daemon thread; a write failure is logged once until one works."""

    def __init__(self, file: StateFile, logger: logging.Logger) -> None:
        self.file = file
        self._log = logger
        self._cond = threading.Condition()
        self._pending: Mapping[str, Any] | None = None
        self._busy = False
        self._failing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.writes = 0

    def submit(self, document: Mapping[str, Any]) -> None:
        """Queue ``document`` (replacing one not yet written); returns at once."""
        with self._cond:
            if self._closed:
                return
            self._pending = document
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="limit_ladder-memory", daemon=True)
                self._thread.start()
                atexit.register(self.flush, 2.0)
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` s) until every queued document is written; True when it was."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def close(self) -> None:
        """Write what is queued (briefly), then stop the thread."""
        self.flush(2.0)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        atexit.unregister(self.flush)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                document, self._pending, self._busy = self._pending, None, True
            try:
                self.file.write(document)
            except (OSError, ValueError) as exc:
                if not self._failing:
                    self._log.warning("cannot save the policy memory to %s: %s", self.file.path, exc)
                self._failing = True
            else:
                if self._failing:
                    self._log.info("policy memory saved to %s again", self.file.path)
                self._failing = False
                self.writes += 1
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
