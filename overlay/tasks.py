"""Celery tasks of the mesh: thin, take ids."""

import logging

from celery import shared_task
from django.db import transaction

from . import selectors, services

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_org(organization_id: int) -> None:
    """One pass over an organization's swarm; another worker's pass on it makes this a no-op
    (beat comes back soon)."""
    organization = selectors.organization_by_id(organization_id=organization_id)
    if organization is None:
        return
    try:
        services.overlay_reconcile(organization=organization)
    except services.DAEMON_ERRORS as exc:
        # The member records say what each node lacks; this is the pass's own failure.
        log.warning("overlay %s: pass failed: %s", organization_id, type(exc).__name__)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_node_org(node_id: int) -> None:
    """A node became Deployed: its organization's swarm takes it in."""
    organization_id = selectors.organization_id_of_node(node_id=node_id)
    if organization_id is not None:
        reconcile_org(organization_id)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_all() -> None:
    """Beat (`overlay-reconcile`): every organization with Deployed nodes or a swarm."""
    for organization_id in selectors.organizations_with_nodes():
        reconcile_org.delay(organization_id)


def queue_node_org(node_id: int) -> None:
    """The `on_deployed` hook (after the commit): a pass for the node's organization."""
    reconcile_node_org.delay(node_id)


def queue_after_end(node) -> None:
    """The `on_ended` hook: once the node is Terminated, a pass tidies the swarm it left
    (a manager's seat filled, should the hand-over before it left have failed)."""
    organization_id = node.organization_id
    transaction.on_commit(lambda: reconcile_org.delay(organization_id))
