"""What the node and cluster pages share: the Action a portal POST records, tags from text."""

from django.http import HttpRequest

from accounts.audit import Actor
from accounts.permissions import Access

from .. import lifecycle
from ..models import Action, Node, NodeCluster
from ..transitions import actions


def portal_action(
    request: HttpRequest,
    access: Access,
    name: str,
    obj: Node | NodeCluster | None = None,
    object_uri: str = "",
) -> Action:
    """The Action of a portal POST on `obj` (a node or cluster of `access`'s organization),
    with the request's path and user agent, as the API records its calls."""
    return actions.action_create(
        actor=Actor.from_request(request),
        organization=access.organization,
        action=name,
        object_uri=object_uri,
        object_uuid=obj.uuid if obj is not None else None,
        method="POST",
        path=request.path,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


def tags_from_text(value: str | None) -> list[dict]:
    """Tags as the portal's text field gives them: comma-separated names."""
    return lifecycle.clean_tags([n.strip() for n in (value or "").split(",") if n.strip()])
