"""Boot one VM with virtme-ng over the host's root file system and run the scenario script in it.

The guest is the Debian kernel from ``linux-image-amd64`` (it ships ``vcan``, ``can-raw`` and
``slcan`` as modules), run by QEMU without KVM when ``/dev/kvm`` is not usable. The guest sees the
host's files read-only (this repository and its ``.venv`` included) and writes its results to
``outdir``, shared read-write. ``python -m tests.kernel.vm DIR`` runs it by hand;
``GATEWAY_VM_KVM=1`` lets QEMU use KVM (off by default: a ``/dev/kvm`` can exist and still fail).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: One vCPU boots faster under QEMU's emulation than two on a two-core machine; 1 GiB is plenty.
CPUS = 1
MEMORY = "1G"
#: The whole VM (boot and every scenario) must finish within this (real time, a hang guard).
VM_TIMEOUT_S = 600.0
#: Drivers for emulated hardware the scenarios never use: udev would spend half the boot loading them.
UNUSED_MODULES = (
    "kvm,kvm_amd,kvm_intel,powernow_k8,iTCO_wdt,iTCO_vendor_support,lpc_ich,i2c_i801,pcspkr,ahci,"
    "libahci,libata,sr_mod,cdrom,sg,aesni_intel,ghash_clmulni_intel,crc32_pclmul,crc32c_intel,cryptd,"
    "sha256_ssse3,sha512_ssse3,button,evdev,psmouse,serio_raw,i6300esb,scsi_mod,scsi_common,"
    "edac_mce_amd,qemu_fw_cfg"
)
#: Host commands the tier needs, with the Debian package that has each (``.ci/run`` installs them).
NEEDED = {
    "qemu-system-x86_64": "qemu-system-x86",
    "busybox": "busybox-static",
    "candump": "can-utils",
    "slcand": "can-utils",
    "ip": "iproute2",
    "tc": "iproute2",
    "stdbuf": "coreutils",
}


class VmUnavailable(RuntimeError):
    """Something the VM needs is not installed here (the message names it and its package)."""


@dataclass(frozen=True, slots=True)
class VmRun:
    """What one boot produced: the shared directory, the console log, and how long it all took."""

    outdir: Path
    console: Path
    returncode: int
    wall_s: float


def find_kernel() -> Path:
    """The newest ``/boot/vmlinuz-*`` whose modules include ``vcan``. :raises VmUnavailable:."""
    for image in sorted(Path("/boot").glob("vmlinuz-*"), reverse=True):
        release = image.name.removeprefix("vmlinuz-")
        if list(Path("/lib/modules", release).rglob("vcan.ko*")):
            return image
    raise VmUnavailable("no /boot/vmlinuz-* with a vcan module (apt-get install linux-image-amd64)")


def find_vng() -> Path:
    """virtme-ng's ``vng``, from this venv (the dev extras) or PATH. :raises VmUnavailable:."""
    beside = Path(sys.executable).with_name("vng")
    if beside.exists():
        return beside
    found = shutil.which("vng")
    if found is None:
        raise VmUnavailable("virtme-ng's vng is not installed (pip install -e '.[dev]')")
    return Path(found)


def check_host() -> list[str]:
    """What is missing on this host, one line each (empty when the VM can boot)."""
    missing = [
        f"{tool} (apt-get install {package})"
        for tool, package in NEEDED.items()
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()
    ]
    for finder in (find_kernel, find_vng):
        try:
            finder()
        except VmUnavailable as exc:
            missing.append(str(exc))
    return missing


def command(outdir: Path) -> list[str]:
    """The ``vng`` command line that runs the scenario script in a fresh VM."""
    script = [sys.executable, "-m", "tests.kernel.guest", str(outdir)]
    argv = [
        str(find_vng()),
        "--run",
        str(find_kernel()),
        "--user",
        "root",
        "--cpus",
        str(CPUS),
        "--memory",
        MEMORY,
        "--cwd",
        str(REPO),
        "--rwdir",
        str(outdir),
        "--append",
        f"module_blacklist={UNUSED_MODULES}",
        "--exec",
        shlex.join(script),
    ]
    if os.environ.get("GATEWAY_VM_KVM") != "1":  # a /dev/kvm may be present and still fail (nested)
        argv.insert(1, "--disable-kvm")
    return argv


def boot(outdir: Path, console: Path, timeout_s: float = VM_TIMEOUT_S) -> VmRun:
    """Boot, run the scenarios, power off. :raises VmUnavailable: a prerequisite is missing."""
    missing = check_host()
    if missing:
        raise VmUnavailable("; ".join(missing))
    outdir.mkdir(parents=True, exist_ok=True)
    # The guest cannot write bytecode (its view of this tree is read-only) and compiles slowly.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "gateway_core", "plugins", "tests"], cwd=REPO, check=False
    )
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}{os.pathsep}/usr/sbin"
    started = time.monotonic()
    with console.open("wb") as log:
        try:
            done = subprocess.run(
                command(outdir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                timeout=timeout_s,
                check=False,
            )
            returncode = done.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
    return VmRun(outdir, console, returncode, time.monotonic() - started)


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve()
    result = boot(target / "out", target / "console.log")
    print(f"rc={result.returncode} wall={result.wall_s:.1f}s console={result.console}")
