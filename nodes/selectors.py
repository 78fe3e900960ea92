"""Tenant-scoped reads on nodes."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Organization
from core import tokens

from .models import Node, OrgCA, RegistrationToken


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
