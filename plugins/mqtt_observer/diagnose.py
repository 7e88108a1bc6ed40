"""Why the broker could not be reached, in words a user can act on (pure).

paho hands ``on_connect_fail`` no exception; the observer passes the one paho is handling at that
moment (``sys.exc_info()``) to :func:`connect_failure`. Each text names the kind of failure --
refused, timeout, DNS, TLS -- and, where the shipped systemd unit's sandbox is the likely cause
(an EPERM/EACCES on connect under ``IPAddressDeny=any``, or no IP sockets at all under
``RestrictAddressFamilies=``), the drop-in that fixes it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
from dataclasses import dataclass

#: Errors the shipped unit's sandbox gives a process that tries to use IP.
SANDBOX_ERRNOS = frozenset({errno.EPERM, errno.EACCES, errno.EAFNOSUPPORT})

#: Where the project documents the drop-in (docs/raspberry-pi.md).
DROP_IN_DOC = 'docs/raspberry-pi.md, "Observers need the network"'


@dataclass(frozen=True, slots=True)
class Target:
    """The broker as configured: what the messages name."""

    host: str
    port: int
    tls: bool = False
    timeout_s: float = 5.0
    protocol: str = "v5"

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port`` for an IPv6 literal)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def sandbox_hint(host: str) -> str:
    """The drop-in that lets the service reach ``host`` (one line)."""
    allow = host if host == "localhost" or _is_ip_literal(host) else "<the broker's address>"
    return (
        "the service's sandbox blocks IP (the shipped unit has IPAddressDeny=any): add the drop-in from "
        f"{DROP_IN_DOC}: sudo systemctl edit battery-gateway, then under [Service] "
        f"RestrictAddressFamilies=AF_INET AF_INET6 and IPAddressAllow={allow}"
    )


def _tls_failure(exc: OSError, target: Target) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
        return (
            f"TLS: the broker's certificate was not accepted ({detail}); set tls_ca_file to the CA "
            "that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        detail = getattr(exc, "reason", None) or exc.strerror or str(exc)
        return f"TLS handshake failed ({detail}); does port {target.port} speak TLS (8883 usually does)?"
    return (
        f"TLS handshake failed: the broker closed the connection ({exc.strerror or exc}); "
        f"does port {target.port} speak TLS (8883 usually does, 1883 does not)?"
    )


def connect_failure(exc: BaseException | None, target: Target) -> str:
    """Why connecting to ``target`` failed, from the exception paho was handling (None: unknown)."""
    if exc is None:
        return "cannot connect (no reason given)"
    if isinstance(exc, socket.gaierror):
        return f"DNS: cannot resolve {target.host!r} ({exc.strerror or exc})"
    if isinstance(exc, TimeoutError):
        return (
            f"timeout: no answer within {target.timeout_s:g} s (host down, wrong address, or a firewall "
            "dropping the packets)"
        )
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused: nothing listens on port {target.port} there, or a firewall rejects it"
    if isinstance(exc, ssl.SSLError) or (
        target.tls and isinstance(exc, ConnectionResetError | BrokenPipeError)
    ):  # before the errno checks: an SSLError's errno is OpenSSL's code, not an errno
        return _tls_failure(exc, target)
    if isinstance(exc, OSError) and exc.errno in SANDBOX_ERRNOS:
        return f"cannot connect ({exc.strerror or exc}): {sandbox_hint(target.host)}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"cannot connect: {exc.strerror} (check the address and the route to {target.host})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect: {exc.strerror}"
    return f"cannot connect: {type(exc).__name__}: {exc}"


def refusal(reason: object, target: Target) -> str:
    """Why the broker answered CONNECT with a failure (bad credentials, protocol version ...)."""
    text = f"the broker refused the connection: {reason}"
    if target.protocol == "v5" and "protocol version" in str(reason).lower():
        text += ' (an old broker without MQTT 5: set mqtt.protocol = "v3.1.1")'
    return text


def no_connack(target: Target) -> str:
    """The broker took the TCP connection but never answered the MQTT CONNECT."""
    what = "TLS connection" if target.tls else "TCP connection"
    return (
        f"no answer: the broker accepted the {what} but sent no CONNACK within {target.timeout_s:g} s "
        "(is it an MQTT broker on that port? does it expect TLS?)"
    )


def closed_before_connack(reason: object) -> str:
    """The connection closed before the broker accepted it (no connection was made)."""
    return f"the broker closed the connection before accepting it ({reason})"
