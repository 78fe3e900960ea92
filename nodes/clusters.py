"""Node clusters: create, deploy, scale, tag, terminate; the reconciler drives them to target.

Verbs validate, record their Action and queue `reconcile_cluster` on commit. The reconciler is
idempotent and safe to run at any time (beat runs it for every active cluster): it creates the
nodes that are missing through the provider driver (a host booting the install script with a
token made for that node), replaces nodes that did not deploy in time, removes surplus nodes
(newest first), and settles the cluster's state and its actions.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import SYSTEM, Actor
from accounts.permissions import Access
from providers.drivers import HostState, get_driver_class
from providers.options import provider_options_check

from . import provisioning, selectors, services
from .agent_bundle import agent_bundle
from .events import render
from .lifecycle import clean_tags, node_destroy
from .models import Action, ClusterState, Node, NodeCluster, NodeState
from .transitions import actions
from .transitions import clusters as transitions
from .transitions.nodes import node_create, node_edit, node_host_record

log = logging.getLogger(__name__)
MAX_NODES = 100
LIVE = (NodeState.DEPLOYING, NodeState.DEPLOYED, NodeState.UNREACHABLE, NodeState.UPGRADING)


def _count(value, field: str, minimum: int, maximum: int) -> int:
    try:
        number = int(value)  # the CLI sends `disk` as a string
    except (TypeError, ValueError):
        raise ValidationError({field: ["Give a whole number."]}) from None
    if not minimum <= number <= maximum:
        raise ValidationError({field: [f"Give a number from {minimum} to {maximum}."]})
    return number


@transaction.atomic
def cluster_create(
    *,
    actor: Actor,
    access: Access,
    name: str,
    region: str,
    node_type: str,
    install_url: str,
    action: Action,
    target_num_nodes=1,
    disk=60,
    nickname: str = "",
    tags=None,
    provider_options=None,
    credential=None,
) -> NodeCluster:
    """Create a cluster in state Init (Docker Cloud deploys it with a separate call)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValidationError({"name": ["Give a name of 1 to 100 characters."]})
    placement = provisioning.parse_placement(region, node_type)
    cred = provisioning.credential_for_cluster(
        access=access, provider=placement.provider, credential_uuid=credential
    )
    options = provider_options_check(
        access=access, provider=placement.provider, credential=cred, options=provider_options
    )
    fields = {
        "organization": access.organization,
        "name": name.strip(),
        "nickname": (nickname or name).strip()[:100],
        "provider": placement.provider,
        "region": placement.region,
        "node_type": placement.node_type,
        "target_num_nodes": _count(target_num_nodes, "target_num_nodes", 0, MAX_NODES),
        "disk": _count(disk, "disk", 1, 16384),
        "tags": clean_tags(tags) if tags is not None else [],
        "provider_options": options,
        "credential": cred,
        "install_url": get_driver_class(placement.provider).boot_base(install_url),
    }
    cluster = transitions.cluster_create(actor=actor, fields=fields)
    provisioning.record_credential_use(
        actor=actor, cluster=cluster, purpose=f"create node cluster {cluster.name}"
    )
    # The create action names the cluster it made as it starts (its events carry it).
    actions.action_start(
        action_id=action.pk,
        object_uri=render.cluster_uri(cluster.organization.name, cluster.uuid),
        object_uuid=cluster.uuid,
    )
    actions.action_finish(action_id=action.pk, success=True)
    return cluster


def reconcile_timeout() -> int:
    """How long a cluster's deploy, scale or terminate may take before the reaper fails it."""
    return settings.DC_NODE_DEPLOY_TIMEOUT * 2


def _reconcile_on_commit(cluster: NodeCluster) -> None:
    from .tasks import reconcile_cluster

    transaction.on_commit(lambda: reconcile_cluster.delay(cluster.pk))


@transaction.atomic
def cluster_deploy(*, actor: Actor, cluster: NodeCluster, action: Action) -> None:
    transitions.cluster_move(actor=actor, cluster=cluster, name="deploy", verb="deploy")
    provisioning.record_credential_use(
        actor=actor, cluster=cluster, purpose=f"deploy node cluster {cluster.name}"
    )
    actions.action_start(action_id=action.pk, timeout=reconcile_timeout())
    _reconcile_on_commit(cluster)


@transaction.atomic
def cluster_update(
    *, actor: Actor, cluster: NodeCluster, action: Action, target_num_nodes=None, tags=None
) -> NodeCluster:
    """PATCH: `target_num_nodes` scales (applied at once), `tags` replaces the list."""
    fields: dict[str, Any] = {}
    if tags is not None:
        fields["tags"] = clean_tags(tags)
    if target_num_nodes is not None:
        fields["target_num_nodes"] = _count(target_num_nodes, "target_num_nodes", 0, MAX_NODES)
    data = {
        "target_num_nodes": fields.get("target_num_nodes", cluster.target_num_nodes),
        "tags": fields.get("tags", cluster.tags),
    }
    # A target on a cluster never deployed is only recorded: its deploy scales to it.
    scaling = "target_num_nodes" in fields and cluster.state != ClusterState.INIT
    if scaling:
        transitions.cluster_move(
            actor=actor, cluster=cluster, name="scale", verb="scale", fields=fields, data=data
        )
    else:
        transitions.cluster_edit(actor=actor, cluster=cluster, fields=fields, data=data)
    if "tags" in fields:
        for node in cluster.nodes.filter(state__in=LIVE):
            node_edit(node=node, fields={"tags": _node_tags(cluster)})
    if scaling:
        actions.action_start(action_id=action.pk, timeout=reconcile_timeout())
        _reconcile_on_commit(cluster)
    else:
        actions.action_start(action_id=action.pk)
        actions.action_finish(action_id=action.pk, success=True)
    return cluster


@transaction.atomic
def cluster_terminate(*, actor: Actor, cluster: NodeCluster, action: Action) -> None:
    transitions.cluster_move(actor=actor, cluster=cluster, name="terminate", verb="terminate")
    actions.action_start(action_id=action.pk, timeout=reconcile_timeout())
    _reconcile_on_commit(cluster)


@transaction.atomic
def cluster_docker_upgrade(*, actor: Actor, cluster: NodeCluster, action: Action) -> None:
    """Upgrade Docker on every Deployed node (one node action each, this one follows them)."""
    from .lifecycle import node_docker_upgrade

    actions.action_start(action_id=action.pk)
    nodes = list(cluster.nodes.filter(state=NodeState.DEPLOYED))
    if not nodes:
        raise ValidationError({"state": ["The node cluster has no Deployed node to upgrade."]})
    for node in nodes:
        child = actions.action_create(
            actor=actor, organization=cluster.organization, action="Node Upgrade Docker",
            object_uri=f"/api/infra/v1/{cluster.organization.name}/node/{node.uuid}/",
            object_uuid=node.uuid,
        )  # fmt: skip
        node_docker_upgrade(actor=actor, node=node, action=child)
        actions.action_log(action_id=action.pk, line=f"Upgrading Docker on {node}")
    actions.action_finish(action_id=action.pk, success=True)


# --- the reconciler ----------------------------------------------------------------------


def _node_tags(cluster: NodeCluster) -> list[dict]:
    automatic = [cluster.provider, cluster.region, cluster.name]
    names = [t["name"] for t in cluster.tags] + [n for n in automatic if n]
    return [{"name": n} for n in dict.fromkeys(names)]


def cluster_log(cluster: NodeCluster, line: str) -> None:
    log.info("cluster %s: %s", cluster.uuid, line)
    for action_id in _open_actions(cluster):
        actions.action_log(action_id=action_id, line=line)


def _open_actions(cluster: NodeCluster) -> list[int]:
    return selectors.open_action_ids(
        organization_id=cluster.organization_id, object_uuid=cluster.uuid
    )


def _finish_actions(cluster: NodeCluster, success: bool, error: str = "") -> None:
    for action_id in _open_actions(cluster):
        actions.action_finish(action_id=action_id, success=success, error=error)


def _create_node(cluster: NodeCluster, driver) -> None:
    deadline = timezone.now() + timedelta(seconds=settings.DC_NODE_DEPLOY_TIMEOUT)
    index = cluster.nodes.count() + 1
    node = node_create(
        cluster=cluster,
        nickname=f"{cluster.name}-{index}",
        tags=_node_tags(cluster),
        deploy_deadline=deadline,
    )
    _boot_host(cluster, node, driver)


def boot_script(install_url: str, install_args: str) -> str:
    """The cloud-init user data: run the install script (with `install_args`, which name the
    agent it may run), retrying while the control plane is out of reach (a restart, a network
    blip at boot), for up to `DC_NODE_DEPLOY_TIMEOUT`."""
    tries = max(settings.DC_NODE_DEPLOY_TIMEOUT // 10, 1)
    return (
        "#!/bin/sh\n"
        f"i=0\nwhile [ $i -lt {tries} ]; do\n"
        f"  if curl -fsSL --connect-timeout 10 -o /run/dockercloud-install.sh '{install_url}' &&"
        f" sh /run/dockercloud-install.sh {install_args}; then exit 0; fi\n"
        "  i=$((i + 1)); sleep 10\ndone\nexit 1\n"
    )


def _boot_host(cluster: NodeCluster, node: Node, driver) -> None:
    _, token = services.registration_token_create(
        actor=SYSTEM, organization=cluster.organization, node=node
    )
    install_args = agent_bundle().install_args()
    user_data = boot_script(f"{cluster.install_url}/install/{token}", install_args)
    host = driver.create_host(
        node_uuid=str(node.uuid),
        region=cluster.region,
        node_type=cluster.node_type,
        user_data=user_data,
        tags={
            "dockercloud-cluster": str(cluster.uuid),
            "dockercloud-org": cluster.organization.name,
        },
        disk=cluster.disk,
        options=cluster.provider_options,
    )
    node_host_record(node=node, host_id=host.id)
    cluster_log(cluster, f"{node.nickname}: host {host.id} is booting")


def _adopt_or_boot(cluster: NodeCluster, node: Node, driver) -> None:
    """A crash came between the node's row and recording its host: find the host the driver
    made (tagged with the node's uuid) rather than make a second; boot one if there is none."""
    found = driver.find_host(node_uuid=str(node.uuid), region=cluster.region)
    if found is not None and found.state in (HostState.PENDING, HostState.RUNNING):
        node_host_record(node=node, host_id=found.id)
        cluster_log(cluster, f"{node.nickname}: found its host {found.id}")
    elif node.state == NodeState.DEPLOYING:
        _boot_host(cluster, node, driver)


def _destroy_node(cluster: NodeCluster, node: Node, driver, reason: str = "") -> None:
    node_destroy(node=node, actor=SYSTEM, reason=reason, driver=driver)
    cluster_log(cluster, f"{node.nickname or node}: terminated{f' ({reason})' if reason else ''}")


def reconcile(cluster: NodeCluster) -> None:
    """One idempotent pass toward the cluster's target (DriverError propagates to the task)."""
    if cluster.state in (ClusterState.INIT, ClusterState.TERMINATED):
        return
    driver = provisioning.driver_for_cluster(cluster)
    live = list(cluster.nodes.filter(state__in=LIVE).order_by("created"))
    if cluster.state == ClusterState.TERMINATING:
        for node in live + list(cluster.nodes.filter(state=NodeState.TERMINATING)):
            _destroy_node(cluster, node, driver)
        transitions.cluster_terminated(cluster=cluster)
        _finish_actions(cluster, success=True)
        return
    now = timezone.now()
    for node in live:
        if (
            node.state == NodeState.DEPLOYING
            and node.deploy_deadline
            and node.deploy_deadline < now
        ):
            _destroy_node(cluster, node, driver, reason="did not deploy in time; replacing it")
        elif not node.provider_host_id:
            _adopt_or_boot(cluster, node, driver)
    live = list(cluster.nodes.filter(state__in=LIVE).order_by("created"))
    surplus = len(live) - cluster.target_num_nodes
    for node in sorted(live, key=lambda n: n.created, reverse=True)[: max(surplus, 0)]:
        _destroy_node(cluster, node, driver, reason="scaled down")
    for _ in range(max(-surplus, 0)):
        _create_node(cluster, driver)
    _settle(cluster)


def _settle(cluster: NodeCluster) -> None:
    # Read again: a user may have scaled or terminated the cluster while this pass ran (their
    # call's reconcile found the lock taken), and this pass must not end their action.
    cluster.refresh_from_db(fields=["state", "target_num_nodes"])
    if cluster.nodes.filter(state=NodeState.TERMINATING).exists():
        # A node is still being ended (its host destroyed, its swarm left) by this pass or
        # another: a scale down is done when its nodes are gone, not when they are leaving.
        return
    states = list(cluster.nodes.filter(state__in=LIVE).values_list("state", flat=True))
    deployed = sum(1 for s in states if s in (NodeState.DEPLOYED, NodeState.UPGRADING))
    empty = cluster.target_num_nodes == 0 and not states
    if not empty and not (
        deployed >= cluster.target_num_nodes and len(states) == cluster.target_num_nodes
    ):
        return  # still deploying or scaling: the next pass looks again
    if transitions.cluster_settle(cluster=cluster, empty=empty):
        _finish_actions(cluster, success=True)


def cluster_fail_stuck(cluster: NodeCluster, reason: str) -> None:
    """The deployment did not converge in time: Partly deployed, its actions Failed."""
    deployed = cluster.nodes.filter(state=NodeState.DEPLOYED).exists()
    transitions.cluster_stuck(cluster=cluster, any_deployed=deployed)
    _finish_actions(cluster, success=False, error=reason)
