"""``gateway service install --web``: the drop-in that opens IP for the web page, and its removal."""

from __future__ import annotations

import configparser
from pathlib import Path

from .test_install import CONFIG, GATEWAY, UNIT, gateway, install, unit_values

DROPIN = "etc/systemd/system/battery-gateway.service.d/web.conf"


def test_web_adds_a_drop_in_that_allows_ip_for_the_page(tmp_path: Path) -> None:
    code, out, _ = install(tmp_path, "--web")

    assert code == 0, out
    dropin = tmp_path / DROPIN
    assert f"wrote    {dropin}" in out
    assert dropin.stat().st_mode & 0o777 == 0o644
    parsed = configparser.ConfigParser()
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read(dropin)
    assert parsed.sections() == ["Service"]
    assert dict(parsed["Service"]) == {
        "RestrictAddressFamilies": "AF_INET AF_INET6",
        "IPAddressAllow": "localhost link-local 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7",
    }
    text = dropin.read_text()
    assert text.startswith("# Installed by battery-gateway")
    assert '[web] listen = "0.0.0.0:8080"' in text and "/etc/battery-gateway/gateway.toml" in text
    assert 'observers = ["web"]' in out  # the next steps say how to turn the page on
    unit = unit_values((tmp_path / UNIT).read_text())
    assert unit["IPAddressDeny"] == ["any"]  # the unit itself stays closed


def test_without_web_there_is_no_drop_in(tmp_path: Path) -> None:
    code, out, _ = install(tmp_path)
    assert code == 0
    assert not (tmp_path / DROPIN).exists()
    assert 'observers = ["web"]' not in out


def test_the_dry_run_shows_the_drop_in(tmp_path: Path) -> None:
    code, out, _ = install(tmp_path, "--web", "--dry-run")
    assert code == 0
    assert f"# --- would write {tmp_path / DROPIN} (mode 0644, IP for the web page) ---" in out
    assert "IPAddressAllow=localhost" in out
    assert list(tmp_path.iterdir()) == []


def test_uninstall_removes_the_drop_in_and_its_folder(tmp_path: Path) -> None:
    install(tmp_path, "--web")

    code, out, _ = gateway("service", "uninstall", "--root", str(tmp_path))

    assert code == 0
    assert f"removed  {tmp_path / DROPIN}" in out
    assert not (tmp_path / DROPIN).parent.exists()
    assert (tmp_path / CONFIG).is_file()


def test_uninstall_keeps_an_administrators_own_drop_ins(tmp_path: Path) -> None:
    install(tmp_path, "--web")
    own = (tmp_path / DROPIN).parent / "override.conf"
    own.write_text("[Service]\nIPAddressAllow=192.168.1.0/24\n")

    code, _, _ = gateway("service", "uninstall", "--root", str(tmp_path))

    assert code == 0
    assert not (tmp_path / DROPIN).exists()
    assert own.is_file()


def test_install_options_still_accept_the_old_arguments() -> None:
    from pathlib import PurePosixPath

    from gateway_core.service import InstallOptions, plan_install

    plan = plan_install(InstallOptions(PurePosixPath(GATEWAY)))
    assert all(item.path.name != "web.conf" for item in plan)
