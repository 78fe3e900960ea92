"""Which address the control plane may know a node by: dial on 2375 and name in its certificate.

Only the address a node registered from counts: an agent can claim any address in its facts,
so a claimed one would let a node have a certificate for another node's address or make the
workers dial an address of its choosing. Of that one, never loopback, link-local (the cloud
metadata service is 169.254.169.254), multicast, unspecified or reserved addresses, nor the
metadata services outside link-local. Private addresses are accepted: nodes in a LAN with the
control plane, and the lab's hosts, live there.
"""

import ipaddress

# Metadata services that are not link-local: AWS over IPv6, Alibaba Cloud; and "this network".
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("fd00:ec2::254/128", "100.100.100.200/32", "0.0.0.0/8")
)


def node_address(address: str | None) -> str | None:
    """`address` in canonical form if a node may be known by it, else None."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or any(ip in net for net in REFUSED_NETWORKS)
    ):
        return None
    if ip.version == 6 and ip.is_site_local:
        return None
    return str(ip)
