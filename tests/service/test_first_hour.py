"""What a newcomer meets after ``gateway service install``: the docs link and the next steps."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from tests.service.test_install import install, unit_values


def test_the_unit_documentation_points_at_a_file_that_exists(tmp_path: Path) -> None:
    code, _, _ = install(tmp_path)
    assert code == 0
    unit = (tmp_path / "etc/systemd/system/battery-gateway.service").read_text()
    (doc,) = unit_values(unit)["Documentation"]
    url = urlparse(doc)
    assert url.scheme == "file" and Path(url.path).is_file()
    assert "systemctl help battery-gateway" in Path(url.path).read_text()


def test_the_next_steps_check_the_setup_without_driving_the_inverter(tmp_path: Path) -> None:
    code, out, _ = install(tmp_path, "--gateway", "/opt/battery-gateway/bin/gateway")
    assert code == 0
    assert "--cycles 5" not in out and "dry run in the foreground" not in out
    assert "sudo -u battery-gateway /opt/battery-gateway/bin/gateway jk_uart read --port /dev/jkbms" in out
    assert (
        "sudo -u battery-gateway /opt/battery-gateway/bin/gateway pylontech monitor --interface socketcan"
        in out
    )
    assert "systemctl mask systemd-networkd-wait-online.service" in out


def test_the_can_network_file_never_holds_up_the_boot(tmp_path: Path) -> None:
    install(tmp_path)
    network = (tmp_path / "etc/systemd/network/80-can0.network").read_text()
    assert "RequiredForOnline=no" in network
