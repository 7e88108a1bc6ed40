"""``gateway service install|uninstall``: dry run, install into a temporary root, uninstall, options."""

from __future__ import annotations

import configparser
import re
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from gateway_core.cli import build_app
from gateway_core.plugins import make_plugin_manager
from gateway_core.service import InstallOptions, ServiceError, systemd_quote

GATEWAY = "/opt/battery-gateway/bin/gateway"
UNIT = "etc/systemd/system/battery-gateway.service"
NETWORK = "etc/systemd/network/80-can0.network"
UDEV = "etc/udev/rules.d/99-jkbms.rules"
SYSUSERS = "etc/sysusers.d/battery-gateway.conf"
CONFIG = "etc/battery-gateway/gateway.toml"


def gateway(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(make_plugin_manager(entry_points=False)), list(args))
    return result.exit_code, result.stdout, result.stderr


def install(root: Path, *extra: str) -> tuple[int, str, str]:
    return gateway("service", "install", "--root", str(root), "--gateway", GATEWAY, *extra)


def unit_values(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file, every value of a repeated key, in order."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def test_dry_run_prints_every_file_and_writes_nothing(tmp_path: Path) -> None:
    code, out, _ = install(tmp_path, "--dry-run")

    assert code == 0
    assert list(tmp_path.iterdir()) == []
    for name in (UNIT, NETWORK, UDEV, SYSUSERS, CONFIG):
        assert f"# --- would write {tmp_path / name} (mode 0644" in out
    assert f"ExecStart={GATEWAY} run --config /etc/battery-gateway/gateway.toml" in out
    assert "[CAN]\nBitRate=500000\nRestartSec=100ms" in out
    assert 'SYMLINK+="jkbms"' in out
    assert "u battery-gateway - " in out and "m battery-gateway dialout" in out
    assert 'port = "/dev/jkbms"' in out
    assert out.rstrip().endswith("# dry run: nothing was written")


def test_dry_run_reports_an_existing_config_as_kept(tmp_path: Path) -> None:
    (tmp_path / CONFIG).parent.mkdir(parents=True)
    (tmp_path / CONFIG).write_text("[gateway]\n")

    code, out, _ = install(tmp_path, "--dry-run")

    assert code == 0
    assert f"# {tmp_path / CONFIG}: exists, kept" in out
    assert 'port = "/dev/jkbms"' not in out


def test_install_into_a_temporary_root(tmp_path: Path) -> None:
    code, out, _ = install(tmp_path)

    assert code == 0, out
    for name in (UNIT, NETWORK, UDEV, SYSUSERS, CONFIG):
        path = tmp_path / name
        assert path.is_file(), name
        assert path.stat().st_mode & 0o777 == 0o644
        assert f"wrote    {path}" in out
    assert not list(tmp_path.rglob(".*.tmp"))
    assert "systemctl enable --now battery-gateway.service" in out
    assert "systemd-sysusers" in out and "systemctl daemon-reload" in out
    assert "staging root" in out


def test_the_unit_has_the_service_and_hardening_settings(tmp_path: Path) -> None:
    install(tmp_path)
    unit = unit_values((tmp_path / UNIT).read_text())

    expected = {
        "Type": ["notify"],
        "Restart": ["always"],
        "User": ["battery-gateway"],
        "SupplementaryGroups": ["dialout"],
        "ProtectSystem": ["strict"],
        "NoNewPrivileges": ["yes"],
        "RestrictAddressFamilies": ["AF_UNIX AF_CAN AF_NETLINK"],
        "CapabilityBoundingSet": [""],
        "DevicePolicy": ["closed"],
        "IPAddressDeny": ["any"],
    }
    for key, value in expected.items():
        assert unit[key] == value, key
    assert re.fullmatch(r"\d+s", unit["WatchdogSec"][0])
    assert "char-ttyUSB rw" in unit["DeviceAllow"]
    assert not any(line.startswith("ExecStartPre") for line in unit)  # no sudo, no ip link


def test_the_network_file_brings_can0_up_at_500_kbit(tmp_path: Path) -> None:
    install(tmp_path)
    network = configparser.ConfigParser()
    network.optionxform = str  # type: ignore[assignment,method-assign]
    network.read(tmp_path / NETWORK)

    assert network["Match"]["Name"] == "can0"
    assert network["CAN"]["BitRate"] == "500000"
    assert network["CAN"]["RestartSec"] == "100ms"


def test_options_user_config_interface_and_bitrate(tmp_path: Path) -> None:
    code, out, _ = install(
        tmp_path,
        "--user",
        "solar",
        "--config",
        "/etc/solar/gw.toml",
        "--interface",
        "can1",
        "--bitrate",
        "250000",
    )

    assert code == 0, out
    unit = unit_values((tmp_path / UNIT).read_text())
    assert unit["User"] == ["solar"] and unit["Group"] == ["solar"]
    assert unit["ExecStart"] == [f"{GATEWAY} run --config /etc/solar/gw.toml"]
    assert "sys-subsystem-net-devices-can1.device" in unit["After"][0]
    assert "BitRate=250000" in (tmp_path / "etc/systemd/network/80-can1.network").read_text()
    assert "u solar - " in (tmp_path / SYSUSERS).read_text()
    assert (tmp_path / "etc/solar/gw.toml").is_file()


def test_an_existing_config_is_never_overwritten_without_force(tmp_path: Path) -> None:
    config = tmp_path / CONFIG
    config.parent.mkdir(parents=True)
    config.write_text("# mine\n")

    code, out, _ = install(tmp_path)
    assert code == 0
    assert config.read_text() == "# mine\n"
    assert f"kept     {config}" in out

    code, out, _ = install(tmp_path, "--force")
    assert code == 0
    assert 'source = "jk_uart"' in config.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--user", "root"), "--user root: the service runs as an unprivileged user"),
        (("--user", "Bad User"), "--user 'Bad User': expected a system user name"),
        (("--config", "gateway.toml"), "--config gateway.toml: must be an absolute path"),
        (("--interface", "can0; rm"), "--interface 'can0; rm': expected a network interface name"),
        (("--bitrate", "5"), "--bitrate 5: accepted: 10000 to 1000000"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, _, err = install(tmp_path, *args)

    assert code == 2
    assert err.startswith(f"gateway: error: {message}")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_gateway_under_home_is_warned_about(tmp_path: Path) -> None:
    code, _, err = gateway(
        "service", "install", "--root", str(tmp_path), "--gateway", "/home/pi/.local/bin/gateway", "--dry-run"
    )

    assert code == 0
    assert "ProtectHome=yes" in err and "/opt/battery-gateway" in err


def test_uninstall_keeps_the_config_unless_purged(tmp_path: Path) -> None:
    install(tmp_path)

    code, out, _ = gateway("service", "uninstall", "--root", str(tmp_path))
    assert code == 0
    for name in (UNIT, NETWORK, UDEV, SYSUSERS):
        assert not (tmp_path / name).exists(), name
    assert (tmp_path / CONFIG).is_file()
    assert "stays (--purge removes it)" in out

    code, out, _ = gateway("service", "uninstall", "--root", str(tmp_path), "--purge")
    assert code == 0
    assert not (tmp_path / CONFIG).exists()
    assert not (tmp_path / CONFIG).parent.exists()


def test_uninstall_reads_the_user_and_config_of_the_installed_unit(tmp_path: Path) -> None:
    code, _, err = install(tmp_path, "--user", "pi", "--config", "/etc/bg/my.toml")
    assert code == 0, err
    assert (tmp_path / "etc/bg/my.toml").is_file()
    code, out, _ = gateway("service", "uninstall", "--root", str(tmp_path), "--purge")
    assert code == 0
    assert not (tmp_path / "etc/bg/my.toml").exists()
    assert "userdel" not in out and "systemctl daemon-reload" in out


def test_uninstall_dry_run_removes_nothing(tmp_path: Path) -> None:
    install(tmp_path)

    code, out, _ = gateway("service", "uninstall", "--root", str(tmp_path), "--dry-run", "--purge")

    assert code == 0
    assert f"would remove {tmp_path / UNIT}" in out
    assert f"would remove {tmp_path / CONFIG}" in out
    assert (tmp_path / UNIT).is_file() and (tmp_path / CONFIG).is_file()


def test_uninstall_keeps_a_file_it_did_not_write(tmp_path: Path) -> None:
    foreign = tmp_path / NETWORK
    foreign.parent.mkdir(parents=True)
    foreign.write_text("[Match]\nName=can0\n")

    code, out, _ = gateway("service", "uninstall", "--root", str(tmp_path))
    assert code == 0
    assert foreign.is_file()
    assert "not written by battery-gateway" in out

    gateway("service", "uninstall", "--root", str(tmp_path), "--force")
    assert not foreign.exists()


def test_systemd_quote() -> None:
    assert systemd_quote("/opt/gw/bin/gateway") == "/opt/gw/bin/gateway"
    assert systemd_quote("/opt/my gw/gateway") == '"/opt/my gw/gateway"'
    assert systemd_quote("/opt/100%/$HOME") == "/opt/100%%/$$HOME"


def test_exec_start_paths_with_spaces_are_quoted(tmp_path: Path) -> None:
    opts = InstallOptions(PurePosixPath("/opt/my gw/bin/gateway"), config=PurePosixPath("/etc/gw/a b.toml"))

    from gateway_core.service import exec_start

    assert exec_start(opts) == '"/opt/my gw/bin/gateway" run --config "/etc/gw/a b.toml"'
    with pytest.raises(ServiceError, match="quotes"):
        InstallOptions(PurePosixPath('/opt/"x"/gateway'))
