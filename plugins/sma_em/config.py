"""The ``[sma_em]`` section: where to receive SMA Energy Meter datagrams (stdlib only)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway_core.settings import setting

#: The SMA Speedwire multicast group and UDP port.
DEFAULT_GROUP = "239.12.255.254"
DEFAULT_PORT = 9522
MAX_SERIAL = 0xFFFFFFFF


def parse_listen(text: str) -> tuple[str, int]:
    """``"host:port"`` (host an IPv4 address) -> ``(host, port)``. :raises ValueError: one line."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or len(port_text) > 5:
        raise ValueError(f'listen = {text!r}: expected address:port, e.g. "0.0.0.0:{DEFAULT_PORT}"')
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"listen = {text!r}: port {port} outside 1..65535")
    _ipv4("listen", host)
    return host, port


def _ipv4(key: str, text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError(f"{key} = {text!r} is not an IPv4 address (e.g. 0.0.0.0)") from None


@dataclass(frozen=True, slots=True)
class SmaEmConfig:
    """How to receive an SMA Energy Meter or Sunny Home Manager (Speedwire, protocol 0x6069)."""

    group: str = setting(
        DEFAULT_GROUP, help='multicast group to join; "" receives unicast only (newer meter firmware)'
    )
    listen: str = setting(f"0.0.0.0:{DEFAULT_PORT}", help="address:port to bind the UDP socket to")
    serial: int = setting(
        0,
        min=0,
        max=MAX_SERIAL,
        help="serial number of the meter to use; 0 = the first meter heard (others: ignored, warned)",
    )
    interface: str = setting(
        "", help='IPv4 address of the network interface that joins the group; "" lets the kernel choose'
    )

    def __post_init__(self) -> None:
        parse_listen(self.listen)
        if self.group and not _ipv4("group", self.group).is_multicast:
            raise ValueError(
                f"group = {self.group!r} is not a multicast address (224.0.0.0 to 239.255.255.255); "
                '"" means unicast only'
            )
        if self.interface:
            _ipv4("interface", self.interface)
        if self.interface and not self.group:
            raise ValueError("interface is set but group is empty (an interface only matters for multicast)")

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` to bind."""
        return parse_listen(self.listen)
