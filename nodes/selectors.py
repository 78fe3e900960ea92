"""Tenant-scoped reads on nodes."""

import uuid as uuid_module

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import ApiKey, Organization, User
from accounts.selectors import organizations_for_user
from core import tokens

from .models import Action, ActionState, ClusterState, Node, NodeCluster, OrgCA, RegistrationToken


def nodes_list(*, organization: Organization) -> QuerySet[Node]:
    return Node.objects.filter(organization=organization).order_by("-created", "-id")


def node_get(*, organization: Organization, uuid) -> Node:
    node = nodes_list(organization=organization).filter(uuid=uuid).first()
    if node is None:
        raise Http404
    return node


def node_by_id(*, node_id: int) -> Node | None:
    """For tasks, which receive ids: the row, or None if it is gone."""
    return Node.objects.select_related("organization").filter(pk=node_id).first()


def org_ca(*, organization: Organization) -> OrgCA | None:
    return OrgCA.objects.filter(organization=organization).first()


def registration_token_exists(*, token: str) -> bool:
    return RegistrationToken.objects.filter(digest=tokens.digest(token)).exists()


def actions_for_user(*, user: User, api_key: ApiKey | None = None) -> QuerySet[Action]:
    """Actions of every organization the caller belongs to (narrowed by a restricted key)."""
    orgs = organizations_for_user(user=user, api_key=api_key)
    return Action.objects.filter(organization__in=orgs).order_by("-created", "-id")


def uuid_or_none(value) -> uuid_module.UUID | None:
    """A UUID from user input, or None if it is not one."""
    try:
        return uuid_module.UUID(str(value)) if value else None
    except ValueError:
        return None


def object_uuids(object_uri: str, include_related: bool, *, organizations) -> list:
    """The uuid in a resource URI, plus related objects' (a node's cluster, a cluster's nodes),
    looked up in `organizations` (the caller's) only."""
    tail = object_uri.rstrip("/").rsplit("/", 1)[-1]
    try:
        uuid_value = uuid_module.UUID(tail)
    except ValueError:
        return []
    if not include_related:
        return [uuid_value]
    nodes = Node.objects.filter(organization__in=organizations)
    if "/nodecluster/" in object_uri:
        related = nodes.filter(node_cluster__uuid=uuid_value).values_list("uuid", flat=True)
        return [uuid_value, *related]
    cluster = nodes.filter(uuid=uuid_value).values_list("node_cluster__uuid", flat=True)
    return [uuid_value, *[c for c in cluster if c]]


def action_object(*, action: Action) -> Node | NodeCluster | None:
    """The node or node cluster an action is about, in the action's organization."""
    if action.object_uuid is None:
        return None
    model = NodeCluster if "/nodecluster/" in (action.object_uri or "") else Node
    return model.objects.filter(
        organization_id=action.organization_id, uuid=action.object_uuid
    ).first()


def clusters_list(*, organization: Organization) -> QuerySet[NodeCluster]:
    return (
        NodeCluster.objects.filter(organization=organization)
        .select_related("credential")
        .order_by("-created")
    )


def cluster_get(*, organization: Organization, uuid) -> NodeCluster:
    cluster = clusters_list(organization=organization).filter(uuid=uuid).first()
    if cluster is None:
        raise Http404
    return cluster


def cluster_by_id(*, cluster_id: int) -> NodeCluster | None:
    return NodeCluster.objects.select_related("organization").filter(pk=cluster_id).first()


ACTIVE_CLUSTER_STATES = [
    ClusterState.DEPLOYING,
    ClusterState.SCALING,
    ClusterState.TERMINATING,
    ClusterState.PARTLY_DEPLOYED,
    ClusterState.DEPLOYED,
]


def active_cluster_ids() -> list[int]:
    return list(
        NodeCluster.objects.filter(state__in=ACTIVE_CLUSTER_STATES).values_list("pk", flat=True)
    )


def actions_for_object(*, organization: Organization, object_uuid, limit: int = 10) -> list[Action]:
    """The latest actions on one object (a node) of the organization, newest first."""
    return list(
        Action.objects.filter(organization=organization, object_uuid=object_uuid).order_by(
            "-created", "-id"
        )[:limit]
    )


def open_action_ids(*, organization_id: int, object_uuid) -> list[int]:
    """The actions on one object that a worker or the reconciler is still running."""
    return list(
        Action.objects.filter(
            organization_id=organization_id,
            object_uuid=object_uuid,
            state__in=[ActionState.IN_PROGRESS, ActionState.CANCELING],
        ).values_list("pk", flat=True)
    )


def actions_overdue(*, now) -> list[Action]:
    """For the reaper: running actions past their deadline, in every organization."""
    return list(
        Action.objects.filter(
            state__in=[ActionState.IN_PROGRESS, ActionState.CANCELING], deadline__lt=now
        )
        .select_related("organization")
        .order_by("deadline")
    )


def registration_token_get(*, organization: Organization, uuid) -> RegistrationToken:
    """A token of the organization (by its uuid, never its secret), with the node it brought."""
    token = (
        RegistrationToken.objects.filter(organization=organization, uuid=uuid)
        .select_related("node")
        .first()
    )
    if token is None:
        raise Http404
    return token
