"""Install the gateway as a systemd service: unit, CAN network file, udev rule, sysusers, config.

The files are templates shipped in ``gateway_core/data``. :func:`plan_install` fills them in (pure,
no I/O but reading the templates); :func:`apply_plan` writes a plan under a root directory, so a test
or an image builder can install into a temporary tree. Nothing here runs ``systemctl`` or ``sudo``:
the caller prints :func:`next_steps` for the administrator.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from .config import DEFAULT_CONFIG_PATH

#: First words of every file we install; uninstall removes only files that carry it.
MARKER = "Installed by battery-gateway"
UNIT_PATH = PurePosixPath("/etc/systemd/system/battery-gateway.service")
UDEV_PATH = PurePosixPath("/etc/udev/rules.d/99-jkbms.rules")
SYSUSERS_PATH = PurePosixPath("/etc/sysusers.d/battery-gateway.conf")
#: The drop-in ``--web`` adds: IP for the web observer's page (the unit denies IP otherwise).
WEB_DROPIN_PATH = PurePosixPath("/etc/systemd/system/battery-gateway.service.d/web.conf")
NETWORK_DIR = PurePosixPath("/etc/systemd/network")
DEFAULT_USER = "battery-gateway"
DEFAULT_CONFIG = PurePosixPath(str(DEFAULT_CONFIG_PATH))
DEFAULT_INTERFACE = "can0"
DEFAULT_BITRATE = 500_000

_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_INTERFACE_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
#: Where ProtectHome=yes hides files from the service.
_HIDDEN_DIRS = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))


class ServiceError(Exception):
    """An install option or an existing file stops the install; the message is one line."""


@dataclass(frozen=True, slots=True)
class InstallOptions:
    """What ``gateway service install`` was asked for (paths are paths on the target system)."""

    gateway: PurePosixPath
    user: str = DEFAULT_USER
    config: PurePosixPath = DEFAULT_CONFIG
    interface: str = DEFAULT_INTERFACE
    bitrate: int = DEFAULT_BITRATE
    web: bool = False

    def __post_init__(self) -> None:
        if not _USER_RE.fullmatch(self.user):
            raise ServiceError(f"--user {self.user!r}: expected a system user name such as {DEFAULT_USER}")
        if self.user == "root":
            raise ServiceError("--user root: the service runs as an unprivileged user; pick another name")
        for option, path in (("--gateway", self.gateway), ("--config", self.config)):
            if not path.is_absolute():
                raise ServiceError(f"{option} {path}: must be an absolute path")
            if any(ch in str(path) for ch in '\n\r"\\'):
                raise ServiceError(
                    f"{option} {str(path)!r}: newlines, quotes and backslashes are not supported"
                )
        if not _INTERFACE_RE.fullmatch(self.interface):
            raise ServiceError(
                f"--interface {self.interface!r}: expected a network interface name such as can0"
            )
        if not 10_000 <= self.bitrate <= 1_000_000:
            raise ServiceError(f"--bitrate {self.bitrate}: accepted: 10000 to 1000000 (bit/s)")

    @property
    def network_path(self) -> PurePosixPath:
        """The systemd-networkd file that brings the CAN interface up."""
        return NETWORK_DIR / f"80-{self.interface}.network"


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """One file to write: where, what, which mode; ``keep_existing`` files are never silently replaced."""

    path: PurePosixPath
    content: str
    mode: int
    what: str
    keep_existing: bool = False


def template(name: str) -> str:
    """The text of a shipped data file, e.g. ``battery-gateway.service``."""
    return resources.files("gateway_core").joinpath("data", name).read_text(encoding="utf-8")


def systemd_quote(arg: str) -> str:
    """One ExecStart= argument: ``%`` and ``$`` escaped, quoted when it has spaces."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"' if any(ch.isspace() for ch in escaped) or not escaped else escaped


def exec_start(opts: InstallOptions) -> str:
    """The unit's ExecStart= command line."""
    return " ".join(systemd_quote(a) for a in (str(opts.gateway), "run", "--config", str(opts.config)))


def installed_user_and_config(root: Path) -> tuple[str, PurePosixPath]:
    """``User=`` and the ``--config`` path of the installed unit (the defaults when it is absent)."""
    user, config = DEFAULT_USER, PurePosixPath(str(DEFAULT_CONFIG_PATH))
    try:
        text = on_root(root, UNIT_PATH).read_text(encoding="utf-8")
    except OSError:
        return user, config
    for line in text.splitlines():
        if line.startswith("User="):
            user = line.removeprefix("User=").strip() or user
        elif line.startswith("ExecStart="):
            args = shlex.split(line.removeprefix("ExecStart=").replace("%%", "%").replace("$$", "$"))
            if "--config" in args[:-1]:
                config = PurePosixPath(args[args.index("--config") + 1])
    return user, config


def installed_docs() -> str:
    """The operator's guide shipped in the installed package (the unit's ``Documentation=``)."""
    return "file://" + str(Path(str(resources.files("gateway_core"))) / "data" / "SERVICE.md")


def _fill(text: str, opts: InstallOptions) -> str:
    values = {
        "@EXEC_START@": exec_start(opts),
        "@USER@": opts.user,
        "@CONFIG@": str(opts.config),
        "@INTERFACE@": opts.interface,
        "@BITRATE@": str(opts.bitrate),
        "@NETWORK_FILE@": str(opts.network_path),
        "@DOCS@": installed_docs(),
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def plan_install(opts: InstallOptions) -> list[PlannedFile]:
    """The files ``gateway service install`` writes, filled in for ``opts``."""
    web = [PlannedFile(WEB_DROPIN_PATH, _fill(template("web.conf"), opts), 0o644, "IP for the web page")]
    return [
        PlannedFile(UNIT_PATH, _fill(template("battery-gateway.service"), opts), 0o644, "systemd unit"),
        PlannedFile(
            opts.network_path, _fill(template("can.network"), opts), 0o644, f"brings {opts.interface} up"
        ),
        PlannedFile(UDEV_PATH, _fill(template("99-jkbms.rules"), opts), 0o644, "udev rule for /dev/jkbms"),
        PlannedFile(SYSUSERS_PATH, _fill(template("sysusers.conf"), opts), 0o644, "the service user"),
        PlannedFile(
            opts.config, _fill(template("gateway.toml"), opts), 0o644, "commented config", keep_existing=True
        ),
        *(web if opts.web else []),
    ]


def on_root(root: Path, path: PurePosixPath) -> Path:
    """``path`` of the target system under ``root`` (``/`` for the running system)."""
    return root.joinpath(*path.parts[1:])


def warnings_for(opts: InstallOptions) -> list[str]:
    """Problems that do not stop the install but would stop the service."""
    found = []
    for option, path in (("--gateway", opts.gateway), ("--config", opts.config)):
        if any(path.is_relative_to(hidden) for hidden in _HIDDEN_DIRS):
            found.append(
                f"{option} {path} is under a home directory, which the unit hides (ProtectHome=yes); "
                "install into /opt/battery-gateway instead (docs/raspberry-pi.md)"
            )
    return found


def render_dry_run(plan: Iterable[PlannedFile], root: Path, *, force: bool = False) -> str:
    """What :func:`apply_plan` would do, with each file's full content."""
    out: list[str] = []
    for item in plan:
        target = on_root(root, item.path)
        if item.keep_existing and target.exists() and not force:
            out.append(f"# {target}: exists, kept ({item.what}; --force replaces it)")
            continue
        out.append(f"# --- would write {target} (mode {item.mode:04o}, {item.what}) ---")
        out.append(item.content.rstrip("\n"))
    return "\n".join(out) + "\n"


def apply_plan(
    plan: Iterable[PlannedFile], root: Path, *, force: bool = False, echo: Callable[[str], None] = print
) -> list[Path]:
    """Write the plan under ``root`` (atomically, file by file); returns the files written.

    :raises ServiceError: a directory or file could not be written.
    """
    written: list[Path] = []
    for item in plan:
        target = on_root(root, item.path)
        if item.keep_existing and target.exists() and not force:
            echo(f"kept     {target} (exists; --force replaces it)")
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
            temporary.write_text(item.content, encoding="utf-8")
            temporary.chmod(item.mode)
            os.replace(temporary, target)
        except OSError as exc:
            raise ServiceError(f"cannot write {target}: {exc.strerror or exc}") from None
        echo(f"wrote    {target}")
        written.append(target)
    return written


def installed_files(interface: str = DEFAULT_INTERFACE) -> list[PurePosixPath]:
    """The files ``uninstall`` removes (never the config; ``--purge`` adds it)."""
    network = InstallOptions(PurePosixPath("/usr/bin/gateway"), interface=interface).network_path
    return [UNIT_PATH, network, UDEV_PATH, SYSUSERS_PATH, WEB_DROPIN_PATH]


def uninstall(
    paths: Iterable[PurePosixPath],
    root: Path,
    *,
    force: bool = False,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Remove the files we installed; a file without our marker is kept unless ``force``."""
    removed: list[Path] = []
    for path in paths:
        target = on_root(root, path)
        if not target.exists():
            echo(f"absent   {target}")
            continue
        if not force and not _is_ours(target):
            echo(f"kept     {target} (not written by battery-gateway; --force removes it)")
            continue
        if dry_run:
            echo(f"would remove {target}")
            continue
        try:
            target.unlink()
        except OSError as exc:
            raise ServiceError(f"cannot remove {target}: {exc.strerror or exc}") from None
        echo(f"removed  {target}")
        removed.append(target)
    return removed


def _is_ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.read(4096)
    except OSError:
        return False


def default_gateway_executable() -> PurePosixPath | None:
    """The absolute path of the ``gateway`` script in use, for ExecStart= (None if not found)."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "gateway" and argv0.is_file():
        return PurePosixPath(os.path.abspath(argv0))
    beside_python = Path(sys.executable).parent / "gateway"
    if beside_python.is_file():
        return PurePosixPath(os.path.abspath(beside_python))
    found = shutil.which("gateway")
    return PurePosixPath(os.path.abspath(found)) if found else None


def next_steps(opts: InstallOptions, *, root_is_system: bool = True) -> str:
    """The commands that finish the set-up (we never run them ourselves)."""
    lines = ["Next steps (as root):"]
    if not root_is_system:
        lines.append("  (files went to a staging root; copy them onto the target system first)")
    lines += [
        f"  systemd-sysusers                      # creates user '{opts.user}' in group dialout",
        "  udevadm control --reload && udevadm trigger --subsystem-match=tty   # /dev/jkbms",
        f"  systemctl enable --now systemd-networkd   # brings {opts.interface} up at {opts.bitrate} bit/s",
        f"  editor {opts.config}",
        *(['  #   for the page: observers = ["web"], [web] listen = "0.0.0.0:8080"'] if opts.web else []),
        "  # check the set-up without driving the inverter: read the BMS as the service user, then",
        "  # watch the bus (nothing is sent; the inverter's 0x305 shows once it is wired)",
        f"  sudo -u {opts.user} {opts.gateway} jk_uart read --port /dev/jkbms",
        f"  sudo -u {opts.user} {opts.gateway} pylontech monitor --interface socketcan "
        f"--channel {opts.interface}",
        "  # only if systemd-networkd manages no other interface (a Pi on NetworkManager or dhcpcd):",
        "  # stop its wait-online unit from holding the boot for 2 min waiting for a link that never",
        "  # comes online (can0 is RequiredForOnline=no)",
        "  systemctl mask systemd-networkd-wait-online.service",
        "  systemctl daemon-reload",
        "  systemctl enable --now battery-gateway.service",
        "  journalctl -u battery-gateway -f      # systemctl status shows the STATUS= line",
    ]
    return "\n".join(lines)
