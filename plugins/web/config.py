"""The ``[web]`` config section (stdlib only, imported at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core.settings import setting


def parse_listen(listen: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) into ``(host, port)``; raise ValueError when malformed.

    Port 0 lets the system choose a free port (the observer reports the bound one).
    """
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(
            f'listen = {listen!r} is not host:port (e.g. "127.0.0.1:8080", "0.0.0.0:8080", '
            '"[::1]:8080"; "" turns the page off)'
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535 or not host:
        raise ValueError(f"listen = {listen!r}: the port must be 0 to 65535 and the host must not be empty")
    return host, port


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Where the read-only page listens, and how many clients it serves at once."""

    listen: str = setting(
        "127.0.0.1:8080",
        help='host:port of the page and its JSON API ("0.0.0.0:8080" for the LAN); "" turns it off',
    )
    max_connections: int = setting(
        16, min=1, max=256, help="connections served at once; more get 503 at once (each holds a thread)"
    )
    timeout: float = setting(
        10.0, min=0.5, max=300.0, unit="seconds", help="a client that sends or reads nothing this long is cut"
    )

    def __post_init__(self) -> None:
        if self.listen:
            parse_listen(self.listen)

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` to bind, or ``None`` when the page is off."""
        return parse_listen(self.listen) if self.listen else None
