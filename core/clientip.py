"""The client's address: the TCP peer, or, when the peer is a trusted proxy, the address the
proxies recorded in `X-Forwarded-For`.

Only `DC_TRUSTED_PROXIES` may speak for a client. Each proxy appends the address it saw, so the
header is read from the right: the first address that is not a trusted proxy is the client as
the nearest untrusted hop reached us. Anything left of it was written by the client and is
ignored (a client cannot choose its address by sending the header itself).

Every reader of a request's address (login throttling, the audit log, registration) calls
`client_ip(request)`; websockets build a request-like META with `scope_meta(scope)`.
"""

import ipaddress

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(value: str) -> Address | None:
    """An address from a header entry: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`
    (None if it is not one)."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # IPv4 with a port; IPv6 has two colons at least
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, trusted=None) -> str:
    """The client's address given the TCP peer and the `X-Forwarded-For` value (if any)."""
    networks = settings.DC_TRUSTED_PROXIES if trusted is None else trusted
    nearest = _parse(peer or "")
    if nearest is None:
        return peer or ""
    if not networks or not forwarded_for or not _trusted(nearest, networks):
        return str(nearest)
    for entry in reversed(forwarded_for.split(",")):
        hop = _parse(entry)
        if hop is None:
            # Not an address: no trusted proxy wrote that. Stop at the last hop we can vouch for.
            return str(nearest)
        nearest = hop
        if not _trusted(hop, networks):
            return str(hop)
    return str(nearest)  # every hop was a trusted proxy: the left-most one is the client


def client_ip(request) -> str:
    """The client address of a Django request (or anything with a request-like `META`)."""
    meta = request.META
    return client_address(meta.get("REMOTE_ADDR") or "", meta.get("HTTP_X_FORWARDED_FOR"))


def scope_meta(scope) -> dict[str, str]:
    """`REMOTE_ADDR` and `HTTP_X_FORWARDED_FOR` of an ASGI scope, as a request's META has them."""
    client = scope.get("client") or ("", 0)
    forwarded = [
        value.decode("latin-1")
        for key, value in scope.get("headers", [])
        if key == b"x-forwarded-for"
    ]
    meta = {"REMOTE_ADDR": client[0] or ""}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = ",".join(forwarded)
    return meta


LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"]


def is_loopback(host: str) -> bool:
    """A bind address only this machine reaches (`127.0.0.1`, `::1`, `localhost`)."""
    if host.strip("[]").lower() == "localhost":
        return True
    address = _parse(host)
    return address is not None and address.is_loopback
