"""The mesh: each organization's Deployed nodes in one swarm, with one attachable overlay
network; what the container layer asks of it."""

from nodes.models import Node


class OverlayUnavailable(Exception):
    """The node cannot take containers on the overlay now; the message says why
    ("overlay: cannot reach 10.0.0.5:7946")."""


def network_attach(*, node: Node) -> str:
    """Make sure `node` is in its organization's swarm and the organization's network is
    there; return the docker network name a container on `node` attaches to (with its
    address from `addresses.address_allocate`). Raises OverlayUnavailable with the reason."""
    raise NotImplementedError  # the mesh: overlay.swarm
