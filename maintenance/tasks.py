"""Maintenance work on the nodes: thin tasks over `services`, keyed by ids."""

import logging

from celery import shared_task

from nodes.agent_rpc import AgentUnavailable
from nodes.selectors import node_by_id

from . import selectors, services

log = logging.getLogger(__name__)


# A node whose agent is reconnecting (restarted, upgraded, a network blip) misses a push: try
# again soon, so a key change reaches every node within a minute; the beat job catches the rest.
PUSH_RETRIES = 8
PUSH_RETRY_SECONDS = 3


@shared_task(bind=True, ignore_result=True, max_retries=PUSH_RETRIES)
def push_org(self, organization_id: int) -> None:
    """Keys and log settings to every live node of an organization (a change was made)."""
    missed = [
        node.pk
        for node in selectors.live_nodes().filter(organization_id=organization_id)
        if not services.node_push(node=node)
    ]
    if missed and self.request.retries < PUSH_RETRIES:
        raise self.retry(countdown=PUSH_RETRY_SECONDS)


@shared_task(bind=True, ignore_result=True, max_retries=PUSH_RETRIES)
def push_node(self, node_id: int) -> None:
    node = node_by_id(node_id=node_id)
    if node is not None and not services.node_push(node=node, force=True):
        if self.request.retries < PUSH_RETRIES:
            raise self.retry(countdown=PUSH_RETRY_SECONDS)


@shared_task(ignore_result=True)
def push_all() -> None:
    """The safety net: signals push changes at once; this re-pushes what a node missed."""
    for organization_id in selectors.organizations_with_live_nodes():
        push_org.delay(organization_id)


@shared_task(ignore_result=True)
def check_clocks() -> None:
    for node_id in services.clocks_due():
        sync_clock.delay(node_id)


@shared_task(ignore_result=True)
def sync_clock(node_id: int) -> None:
    node = node_by_id(node_id=node_id)
    if node is not None:
        services.node_clock_sync(node=node)


@shared_task(ignore_result=True)
def clean_images_all() -> None:
    for node in selectors.live_nodes():
        clean_images.delay(node.pk)


@shared_task(ignore_result=True)
def clean_images(node_id: int) -> None:
    node = node_by_id(node_id=node_id)
    if node is None:
        return
    try:
        services.node_images_clean(node=node, remove=services.images_removal_due(node=node))
    except AgentUnavailable as exc:
        log.info("node %s: images not cleaned: %s", node.uuid, exc)
