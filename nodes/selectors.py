"""Tenant-scoped reads on nodes."""

import json
import re
import uuid as uuid_module

from django.db import connection as db_connection
from django.db.models import Case, CharField, F, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Coalesce, Lower, NullIf
from django.http import Http404

from accounts.models import ApiKey, Organization, User
from accounts.selectors import organizations_for_user
from core import tokens

from .models import (
    Action,
    ActionState,
    ClusterState,
    Node,
    NodeCluster,
    NodeState,
    OrgCA,
    RegistrationToken,
)


def nodes_list(*, organization: Organization) -> QuerySet[Node]:
    return Node.objects.filter(organization=organization).order_by("-created", "-id")


NODE_SORTS = {  # the portal's sort keys: what each orders by, ascending
    "name": ("sort_name",),
    "state": ("state_rank",),
    "created": ("created",),
    "last_seen": ("last_seen",),
}
UUID_PREFIX = re.compile(r"^[0-9a-f-]{1,36}$")


def nodes_filtered(
    *,
    organization: Organization,
    state: str = "",
    cluster: str = "",
    tag: str = "",
    connection: str | None = None,
    search: str = "",
    sort: str = "created",
    descending: bool = True,
) -> QuerySet[Node]:
    """The node list's rows: one organization's nodes narrowed by what the portal's filters
    chose. `cluster` is a cluster uuid of that organization or "none" (own hosts); a uuid of
    another organization's cluster matches none of this one's nodes. `connection` None is any,
    "" unknown. `search` matches name, hostname and public IP by prefix, uuid by prefix."""
    nodes = nodes_list(organization=organization).select_related("node_cluster")
    if state:
        nodes = nodes.filter(state=state)
    if cluster == "none":
        nodes = nodes.filter(node_cluster__isnull=True)
    elif cluster:
        nodes = nodes.filter(node_cluster__uuid=cluster)
    if tag:
        nodes = _tagged(nodes, tag)
    if connection is not None:
        nodes = nodes.filter(connection=connection)
    if search:
        found = (
            Q(nickname__istartswith=search)
            | Q(hostname__istartswith=search)
            | Q(public_ip__startswith=search)
        )
        if UUID_PREFIX.match(search.lower()):
            found |= Q(uuid__startswith=search.lower())
        nodes = nodes.filter(found)
    return _sorted(nodes, sort, descending)


def _tagged(nodes: QuerySet[Node], tag: str) -> QuerySet[Node]:
    # PostgreSQL answers JSON containment; SQLite, the embedded default, has no containment
    # lookup, so there the stored JSON text must hold one {"name": tag} (tags are stored so).
    if db_connection.vendor == "postgresql":
        return nodes.filter(tags__contains=[{"name": tag}])
    text = nodes.annotate(tags_text=Cast("tags", TextField()))
    return text.filter(tags_text__contains=json.dumps({"name": tag}))


def _sorted(nodes: QuerySet[Node], sort: str, descending: bool) -> QuerySet[Node]:
    nodes = nodes.annotate(
        sort_name=Lower(
            Coalesce(
                NullIf("nickname", Value("")),
                NullIf("hostname", Value("")),
                Cast("uuid", CharField()),
            )
        ),
        state_rank=Case(
            *(When(state=value, then=Value(rank)) for rank, value in enumerate(NodeState.values)),
            default=Value(len(NodeState.values)),
        ),
    )
    order = []
    for field in NODE_SORTS.get(sort, NODE_SORTS["created"]):
        column = F(field)
        # Never seen sorts as the oldest sighting: last on "newest first", first otherwise.
        order.append(column.desc(nulls_last=True) if descending else column.asc(nulls_first=True))
    tie = F("id").desc() if descending else F("id").asc()
    return nodes.order_by(*order, tie)


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
