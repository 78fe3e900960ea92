"""Which addresses BYO over SSH may connect to.

A member names the host and the worker connects to it from inside the control plane's
network: unchecked, that reaches what only the control plane can (its own services on
loopback, the cloud's metadata service at 169.254.169.254, its other interfaces). Refused:
loopback, link-local (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0/8, ::), multicast,
reserved (240.0.0.0/4 and the broadcast address) and the control plane's own addresses (any
address this process can bind to, and the addresses of `DC_PUBLIC_URL`'s host), unless
`DC_SSH_ALLOW_LOCAL_TARGETS` is set (labs and tests, whose SSH servers live there).

A host name is resolved once and every address it resolves to is checked; the caller connects
to those checked addresses, never to the name again, so a DNS answer that changes between the
check and the connection (rebinding) cannot point it elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
MAX_ADDRESSES = 4  # of one name, tried in order: a name with a hundred records is not a scan


class TargetRefused(Exception):
    """The host is, or resolves to, an address BYO over SSH does not connect to."""


def _ip(text: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip


def _kind(ip: Address) -> str | None:
    """Why no member may name `ip`, whatever the machine: None if nothing forbids it."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or ip in THIS_NETWORK:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    return None


def _allowed_anyway() -> bool:
    return bool(getattr(settings, "DC_SSH_ALLOW_LOCAL_TARGETS", False))


def literal_refusal(host: str) -> str | None:
    """For an IP literal the rules refuse whatever the machine, the user's message; else None.

    (Names, and the control plane's own addresses, are checked when connecting: the answer
    there is the same as for any host that cannot be reached.)
    """
    ip = _ip(host)
    if ip is None or _allowed_anyway():
        return None
    kind = _kind(ip)
    return f"{kind.capitalize()} addresses are not reachable over SSH from here." if kind else None


def _bindable(ip: Address) -> bool:
    """True when `ip` is one of this machine's addresses (the kernel lets us bind to it)."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError:
            return False
    return True


def _public_addresses() -> set[Address]:
    host = urlsplit(getattr(settings, "DC_PUBLIC_URL", "") or "").hostname
    if not host:
        return set()
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return set()
    return {ip for *_, sockaddr in found if (ip := _ip(str(sockaddr[0]))) is not None}


def refusal(ip: Address) -> str | None:
    """Why the worker must not connect to `ip` (for the server's log), or None."""
    if _allowed_anyway():
        return None
    kind = _kind(ip)
    if kind:
        return f"{ip} is a {kind} address"
    if ip in _public_addresses() or _bindable(ip):
        return f"{ip} is the control plane's own address"
    return None


def resolve(host: str, port: int) -> list[tuple[socket.AddressFamily, tuple]]:
    """(family, socket address) pairs to connect to, every one of them checked.

    Raises TargetRefused when any address of `host` is refused (a name that also points at
    a forbidden address is not used at all), socket.gaierror when it does not resolve.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except UnicodeError:  # a label the resolver will not even encode ("a..b", 64+ characters)
        raise TargetRefused(f"{host[:64]!r} is not a valid host name") from None
    addresses = list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in found))
    for _, sockaddr in addresses:
        ip = _ip(str(sockaddr[0]))
        reason = "not an IP address" if ip is None else refusal(ip)
        if reason:
            raise TargetRefused(f"{host} resolves to {sockaddr[0]}: {reason}")
    return addresses[:MAX_ADDRESSES]
