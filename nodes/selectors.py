"""Tenant-scoped reads on nodes."""

import uuid as uuid_module

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import ApiKey, Organization, User
from accounts.selectors import organizations_for_user
from core import tokens

from .models import Action, Node, OrgCA, RegistrationToken


def nodes_list(*, organization: Organization) -> QuerySet[Node]:
    return Node.objects.filter(organization=organization).order_by("-created")


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


def object_uuids(object_uri: str, include_related: bool) -> list:
    """The uuid in a resource URI, plus related objects' (a node's cluster, a cluster's nodes)."""
    tail = object_uri.rstrip("/").rsplit("/", 1)[-1]
    try:
        uuid_value = uuid_module.UUID(tail)
    except ValueError:
        return []
    return [uuid_value]
