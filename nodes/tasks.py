"""Celery tasks on nodes: thin, idempotent, take ids."""

import logging

from celery import shared_task

from . import selectors, services
from .docker_client import direct_client, tunnel_client
from .models import Connection, NodeState

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 4


def _answers(make_client, node) -> bool:
    try:
        client = make_client(node, timeout=PROBE_TIMEOUT)
        try:
            return client.ping() is True
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 (any failure means "not this way")
        log.info("node %s: %s probe failed: %s", node.uuid, make_client.__name__, exc)
        return False


@shared_task(acks_late=True, ignore_result=True)
def probe_node(node_id: int) -> None:
    """Reach the daemon over mutual TLS on node:2375, else through the tunnel; mark Deployed."""
    node = selectors.node_by_id(node_id=node_id)
    if node is None or node.state in (NodeState.TERMINATING, NodeState.TERMINATED):
        return
    if node.public_ip and _answers(direct_client, node):
        mode = Connection.DIRECT
    elif _answers(tunnel_client, node):
        mode = Connection.TUNNEL
    else:
        log.info("node %s: daemon not reachable yet", node.uuid)
        return
    if services.node_set_reached(node_id=node.pk, connection=mode):
        log.info("node %s deployed (%s)", node.uuid, mode)


@shared_task(acks_late=True, ignore_result=True)
def sweep_unreachable() -> None:
    flipped = services.nodes_sweep_unreachable()
    if flipped:
        log.info("nodes unreachable (missed heartbeats): %s", flipped)
