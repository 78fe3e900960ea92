"""Maintenance work on the nodes: thin tasks over `services`, keyed by ids."""

import logging

from celery import shared_task

from nodes.agent_rpc import AgentUnavailable
from nodes.selectors import node_by_id

from . import selectors, services

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def push_org(organization_id: int) -> None:
    """Keys and log settings to every live node of an organization (a change was made)."""
    for node in selectors.live_nodes().filter(organization_id=organization_id):
        services.node_push(node=node)


@shared_task(ignore_result=True)
def push_node(node_id: int) -> None:
    node = node_by_id(node_id=node_id)
    if node is not None:
        services.node_push(node=node, force=True)


@shared_task(ignore_result=True)
def push_all() -> None:
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
