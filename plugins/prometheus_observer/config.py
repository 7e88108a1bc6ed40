"""The ``[prometheus]`` config section (stdlib only, imported at start-up)."""

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
            f'listen = {listen!r} is not host:port (e.g. "127.0.0.1:9108", "[::1]:9108"; "" disables it)'
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535 or not host:
        raise ValueError(f"listen = {listen!r}: port must be 0 to 65535 and the host must not be empty")
    return host, port


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    """Where the metrics go: an HTTP ``/metrics`` endpoint, a node-exporter textfile, or both."""

    listen: str = setting("127.0.0.1:9108", help='host:port of the HTTP /metrics endpoint; "" disables it')
    textfile: str = setting(
        "",
        help='node-exporter textfile (must end in .prom), replaced atomically; "" disables it',
    )
    textfile_interval: float = setting(
        10.0,
        min=0.0,
        max=3600.0,
        unit="seconds",
        help="least time between two textfile writes (0 writes after every cycle)",
    )

    def __post_init__(self) -> None:
        if self.listen:
            parse_listen(self.listen)
        if self.textfile and not self.textfile.endswith(".prom"):
            raise ValueError(
                f"textfile = {self.textfile!r} must end in .prom (node-exporter's textfile collector "
                "reads only *.prom files)"
            )
        if not self.listen and not self.textfile:
            raise ValueError(
                'listen and textfile are both empty; set at least one (or remove "prometheus" '
                "from [gateway] observers)"
            )

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the HTTP endpoint, or ``None`` when it is disabled."""
        return parse_listen(self.listen) if self.listen else None
