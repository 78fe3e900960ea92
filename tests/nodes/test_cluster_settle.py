"""A scale down is done when its nodes are gone, not while one is still being ended (its host
destroyed, its swarm left): the cluster's action must not say Success before."""

import pytest

from nodes import clusters
from nodes.models import Action, ActionState, ClusterState, Node, NodeCluster, NodeState

pytestmark = pytest.mark.django_db


def test_a_cluster_settles_only_once_its_ending_nodes_are_gone(owner):
    cluster = NodeCluster.objects.create(
        organization=owner.org, name="web", provider="local", region="lab", node_type="small",
        state=ClusterState.SCALING, target_num_nodes=1,
    )  # fmt: skip
    Node.objects.create(organization=owner.org, node_cluster=cluster, state=NodeState.DEPLOYED)
    ending = Node.objects.create(
        organization=owner.org, node_cluster=cluster, state=NodeState.TERMINATING
    )
    scale = Action.objects.create(
        organization=owner.org, action="Node Cluster Scale", object_uuid=cluster.uuid,
        state=ActionState.IN_PROGRESS,
    )  # fmt: skip

    clusters._settle(cluster)
    cluster.refresh_from_db()
    scale.refresh_from_db()
    assert cluster.state == ClusterState.SCALING and scale.state == ActionState.IN_PROGRESS

    Node.objects.filter(pk=ending.pk).update(state=NodeState.TERMINATED)
    clusters._settle(cluster)
    cluster.refresh_from_db()
    scale.refresh_from_db()
    assert cluster.state == ClusterState.DEPLOYED and scale.state == ActionState.SUCCESS
