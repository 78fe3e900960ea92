"""Node clusters: create, edit, deploy, scale, terminate; the reconciler settles and ends them.

Audited as before this table existed: what a user asks (create, deploy, update or scale,
terminate). What the reconciler concludes (Deployed, Empty cluster, Terminated, Partly deployed
when stuck) is not: the action the user follows records it, and the reaper's `action.reap` row
records a deployment that did not converge.
"""

from django.db.models import F
from django.utils import timezone

from accounts.audit import Actor, audit_record

from ..events import cluster_state_event
from ..models import ClusterState, NodeCluster
from . import Transition, apply, current_state, refused, table

INIT, DEPLOYING, DEPLOYED = ClusterState.INIT, ClusterState.DEPLOYING, ClusterState.DEPLOYED
PARTLY, SCALING, EMPTY = ClusterState.PARTLY_DEPLOYED, ClusterState.SCALING, ClusterState.EMPTY
TERMINATING, TERMINATED = ClusterState.TERMINATING, ClusterState.TERMINATED
SCALABLE = (DEPLOYED, PARTLY, EMPTY, DEPLOYING, SCALING)
MOVING = (DEPLOYING, SCALING)

CLUSTER = table(
    Transition("create", (), INIT, audit="nodecluster.create"),
    Transition("deploy", (INIT,), DEPLOYING, audit="nodecluster.deploy"),
    Transition("scale", SCALABLE, SCALING, audit="nodecluster.update"),
    # Terminating again is allowed: it queues the reconciler once more.
    Transition(
        "terminate",
        tuple(s for s in ClusterState.values if s != TERMINATED),
        TERMINATING,
        audit="nodecluster.terminate",
    ),
    # The reconciler.
    Transition("terminated", (TERMINATING,), TERMINATED),
    Transition("deployed", (DEPLOYING, SCALING, PARTLY, EMPTY), DEPLOYED),
    Transition("emptied", (DEPLOYING, SCALING, PARTLY, DEPLOYED), EMPTY),
    # A deployment that did not converge in time (or a provider's permanent refusal).
    Transition("stuck", MOVING, PARTLY),
    Transition("stuck_empty", MOVING, DEPLOYING),
)


def _audit(actor: Actor, name: str, cluster: NodeCluster, data: dict | None = None) -> None:
    audit_record(
        actor=actor, action=name, organization=cluster.organization, obj=cluster, data=data
    )


def cluster_create(*, actor: Actor, fields: dict) -> NodeCluster:
    """A new cluster in state Init."""
    transition = CLUSTER["create"]
    cluster = NodeCluster.objects.create(state=transition.target, **fields)
    _audit(actor, transition.audit, cluster)
    cluster_state_event(cluster_id=cluster.pk, action="create")
    return cluster


def cluster_edit(*, actor: Actor, cluster: NodeCluster, fields: dict, data: dict) -> None:
    """Change what is not the state (tags, a target while Init), audited as
    `nodecluster.update` with `data` (even when nothing changed, as the API always did)."""
    assert "state" not in fields, "states change through the transitions"  # noqa: S101
    for name, value in fields.items():
        setattr(cluster, name, value)
    if fields:
        cluster.save(update_fields=list(fields))
    _audit(actor, "nodecluster.update", cluster, data)
    if fields:
        cluster_state_event(cluster_id=cluster.pk)


def cluster_shrink(*, cluster_id: int) -> None:
    """One node fewer to keep (a user terminated one of its nodes: no replacement, as in
    Docker Cloud)."""
    shrunk = NodeCluster.objects.filter(pk=cluster_id, target_num_nodes__gt=0).update(
        target_num_nodes=F("target_num_nodes") - 1
    )
    if shrunk:
        cluster_state_event(cluster_id=cluster_id)


def cluster_move(
    *, actor: Actor, cluster: NodeCluster, name: str, verb: str, fields=None, data=None
) -> None:
    """A user's transition (deploy, scale, terminate) with `fields` written alongside; a 400
    naming the current state if the cluster is not in one it may leave."""
    transition = CLUSTER[name]
    fields = fields or {}
    if not apply(NodeCluster, cluster.pk, transition, **fields):
        current = current_state(NodeCluster, cluster.pk)
        raise refused(f"Cannot {verb} a node cluster in state {current}.")
    cluster.state = transition.target
    for field, value in fields.items():
        setattr(cluster, field, value)
    _audit(actor, transition.audit, cluster, data)
    cluster_state_event(cluster_id=cluster.pk)


def cluster_terminated(*, cluster: NodeCluster) -> bool:
    """Terminating -> Terminated, once its nodes are gone."""
    done = apply(NodeCluster, cluster.pk, CLUSTER["terminated"], destroyed_datetime=timezone.now())
    if done:
        cluster_state_event(cluster_id=cluster.pk, action="delete")
    return done


def cluster_settle(*, cluster: NodeCluster, empty: bool) -> bool:
    """The target is reached: Deployed (or Empty cluster at 0 nodes). False when the cluster
    left the states it settles from meanwhile (a user terminated it): its actions are not
    this pass's to end."""
    now = timezone.now()
    transition = CLUSTER["emptied" if empty else "deployed"]
    if apply(NodeCluster, cluster.pk, transition):
        cluster_state_event(cluster_id=cluster.pk)
    elif current_state(NodeCluster, cluster.pk) != transition.target:
        return False
    NodeCluster.objects.filter(pk=cluster.pk, deployed_datetime=None).update(deployed_datetime=now)
    return True


def cluster_stuck(*, cluster: NodeCluster, any_deployed: bool) -> None:
    """Deploying | Scaling that did not converge: Partly deployed if a node is Deployed, else
    Deploying (the reconciler keeps trying)."""
    if apply(NodeCluster, cluster.pk, CLUSTER["stuck" if any_deployed else "stuck_empty"]):
        cluster_state_event(cluster_id=cluster.pk)
