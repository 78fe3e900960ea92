"""Subnets per organization and container addresses within them.

Each organization gets one subnet of `DC_OVERLAY_PREFIX` bits from `DC_OVERLAY_POOL`, the
first free one, kept for the organization's life. The pool's last subnet is kept back for
docker's own networks in every swarm (ingress): it can then never overlap an organization's.
Inside a subnet the first address is the network's gateway, the last quarter is docker's own
(each node's endpoint on the network) and each container holds one address of the rest (by its
uuid) until it is terminated.
"""

import ipaddress

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import Organization

from .models import OrgOverlay, OverlayAddress

# Subnets (or addresses) tried before giving up when others keep taking the same ones first.
ALLOCATION_ATTEMPTS = 64


class OverlayFull(Exception):
    """No subnet left in the pool, or no address left in an organization's subnet."""


def _pool() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(settings.DC_OVERLAY_POOL)


def swarm_pool() -> ipaddress.IPv4Network:
    """The swarms' default address pool: the pool's last subnet, never an organization's."""
    pool, size = _pool(), settings.DC_OVERLAY_PREFIX
    last = int(pool.broadcast_address) + 1 - 2 ** (32 - size)
    return ipaddress.IPv4Network((last, size))


def docker_range(subnet: str) -> ipaddress.IPv4Network:
    """The part of an organization's subnet docker hands out by itself (each node's endpoint
    on the network takes one): its last quarter. Containers get addresses below it only, so
    the two never collide."""
    network = ipaddress.IPv4Network(subnet)
    return list(network.subnets(prefixlen_diff=2))[-1]


def overlay_ensure(*, organization: Organization) -> OrgOverlay:
    """The organization's overlay record, its subnet allocated on first use."""
    existing = OrgOverlay.objects.filter(organization=organization).first()
    if existing is not None:
        return existing
    lost: set[str] = set()
    for _ in range(ALLOCATION_ATTEMPTS):  # others may take the same subnet: the unique index
        taken = set(OrgOverlay.objects.values_list("subnet", flat=True)) | {str(swarm_pool())}
        subnet = next(
            (
                s
                for s in _pool().subnets(new_prefix=settings.DC_OVERLAY_PREFIX)
                if str(s) not in taken and str(s) not in lost
            ),
            None,
        )
        if subnet is None:
            raise OverlayFull(f"no subnet left in DC_OVERLAY_POOL {settings.DC_OVERLAY_POOL}")
        try:
            with transaction.atomic():
                return OrgOverlay.objects.create(
                    organization=organization,
                    subnet=str(subnet),
                    gateway=str(subnet.network_address + 1),
                    encrypted=settings.DC_OVERLAY_ENCRYPTED,
                )
        except IntegrityError:
            found = OrgOverlay.objects.filter(organization=organization).first()
            if found is not None:
                return found
            lost.add(str(subnet))  # decides, with the next one, even before its commit shows
    raise OverlayFull("could not allocate a subnet: too many at once, try again")


def address_allocate(*, organization: Organization, holder) -> str:
    """The address `holder` (a container's uuid) holds in the organization's subnet: the one
    it had, or the lowest free one below docker's own range."""
    overlay = overlay_ensure(organization=organization)
    held = overlay.addresses.filter(holder=holder).values_list("address", flat=True).first()
    if held is not None:
        return held
    subnet, reserved = ipaddress.IPv4Network(overlay.subnet), docker_range(overlay.subnet)
    for _ in range(5):
        taken = set(overlay.addresses.values_list("address", flat=True)) | {overlay.gateway}
        free = next(
            (str(a) for a in subnet.hosts() if str(a) not in taken and a not in reserved), None
        )
        if free is None:
            raise OverlayFull(f"no address left in {overlay.subnet}")
        try:
            with transaction.atomic():
                OverlayAddress.objects.create(overlay=overlay, address=free, holder=holder)
            return free
        except IntegrityError:
            held = overlay.addresses.filter(holder=holder).values_list("address", flat=True).first()
            if held is not None:
                return held
    raise OverlayFull("could not allocate an address: too many at once, try again")


def address_release(*, organization: Organization, holder) -> None:
    """Back to the pool: the holder (a container) was terminated."""
    OverlayAddress.objects.filter(overlay__organization=organization, holder=holder).delete()
