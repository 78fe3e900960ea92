"""One node's pages: its detail, its verbs (POST, each an Action), its containers."""

from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect

from accounts import selectors as account_selectors
from accounts.audit import Actor
from accounts.forms import error_text
from accounts.permissions import Access, can
from accounts.views.base import org_view, render_org

from .. import docker_client, lifecycle, metrics, selectors
from ..api import node_uri
from ..models import Node, NodeState
from .base import portal_action, tags_from_text

NODE_PAGE_VERBS = ("change", "upgrade", "agent_upgrade", "health_check", "terminate")
CONTAINERS_TIMEOUT = 10  # seconds: a daemon that answers slower is shown as not answering
REACHABLE = (NodeState.DEPLOYED, NodeState.UPGRADING)
ENDING = (NodeState.TERMINATING, NodeState.TERMINATED)


@org_view(read="view")
def node_detail(request, access, uuid):
    node = selectors.node_get(organization=access.organization, uuid=uuid)
    org = access.organization
    context = {
        "node": node,
        "metric": node.last_metric or {},
        "charts": metrics.metric_charts(metrics.metric_history(node_id=node.pk)),
        "width": metrics.WIDTH,
        "height": metrics.HEIGHT,
        "ending": node.state in ENDING,
        "actions": selectors.actions_for_object(organization=org, object_uuid=node.uuid),
        "may": {verb: can(access, verb, node) for verb in NODE_PAGE_VERBS},
    }
    return render_org(request, "nodes/detail.html", access, context)


def _readable_node(request, ns: str, uuid) -> tuple[Access, Node]:
    access = account_selectors.organization_access(request=request, name=ns)
    if not can(access, "view"):
        raise PermissionDenied
    node = selectors.node_get(organization=access.organization, uuid=uuid)
    if node.state in REACHABLE:
        docker_client.prepare(node)  # the TLS files, read from the database here
    return access, node


def _containers(node: Node) -> tuple[list[dict], str]:
    """The node's containers as its daemon lists them (over mutual TLS, or through the agent's
    tunnel), or why it could not be asked. Runs outside the request's thread."""
    try:
        client = docker_client.docker_client(node, timeout=CONTAINERS_TIMEOUT)
        try:
            listed = docker_client.daemon_containers(client)  # capped: see there
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 (any failure to reach the daemon is shown as such)
        return [], f"The node's Docker daemon did not answer ({type(exc).__name__})."
    finally:
        connections.close_all()  # this thread's only
    rows = [
        {
            "id": c["Id"][:12],
            "full_id": c["Id"],
            "name": ", ".join(n.lstrip("/") for n in c.get("Names") or []),
            "image": c.get("Image", ""),
            "state": c.get("State", ""),
            "status": c.get("Status", ""),
            "ports": ", ".join(_port(p) for p in c.get("Ports") or []),
            "created": datetime.fromtimestamp(c.get("Created", 0), tz=UTC),
        }
        for c in listed
    ]
    return sorted(rows, key=lambda r: r["name"]), ""


def _port(port: dict) -> str:
    inside = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
    if port.get("PublicPort"):
        address = f"{port['IP']}:" if port.get("IP") else ""
        return f"{address}{port['PublicPort']}->{inside}"
    return inside


async def node_containers(request, ns, uuid):
    """The node's containers, asked of its daemon now. Async: the wait for a node does not hold
    the thread every synchronous view of this process shares."""
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    access, node = await sync_to_async(_readable_node)(request, ns, uuid)
    containers: list[dict] = []
    error = ""
    if node.state in REACHABLE:
        containers, error = await sync_to_async(_containers, thread_sensitive=False)(node)
    context = {"node": node, "containers": containers, "error": error, "reachable": REACHABLE}
    return await sync_to_async(render_org)(request, "nodes/containers.html", access, context)


# Portal verbs on a node: URL segment -> (Action name, lifecycle verb, permission, message).
NODE_VERBS = {
    "terminate": (
        "Node Terminate",
        lifecycle.node_terminate,
        "terminate",
        "Terminating {node}: its agent deregisters, its key is revoked.",
    ),
    "docker-upgrade": (
        "Node Upgrade Docker",
        lifecycle.node_docker_upgrade,
        "upgrade",
        "Upgrading Docker on {node}.",
    ),
    "agent-upgrade": (
        "Node Upgrade Agent",
        lifecycle.node_agent_upgrade,
        "agent_upgrade",
        "Installing this control plane's agent on {node}.",
    ),
    "health-check": (
        "Node Health Check",
        lifecycle.node_health_check,
        "health_check",
        "Checking that the Docker daemon of {node} answers.",
    ),
}


def _node_verb_view(name: str, run, permission: str, message: str):
    @org_view(read=None, write="view")  # checked below, on the node (a grant may admit it)
    def view(request, access, uuid):
        node = selectors.node_get(organization=access.organization, uuid=uuid)
        if not can(access, permission, node):
            raise PermissionDenied
        if run is lifecycle.node_terminate and node.state in ENDING:
            messages.info(request, f"{node} is {node.state.lower()} already.")
            return redirect("nodes:node", ns=access.organization.name, uuid=node.uuid)
        actor = Actor.from_request(request)
        try:
            # One unit: a refused verb (a concurrent terminate) must not leave a Pending action.
            with transaction.atomic():
                action = portal_action(request, access, name, node, node_uri(node))
                run(actor=actor, node=node, action=action)
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, message.format(node=node))
        return redirect("nodes:node", ns=access.organization.name, uuid=node.uuid)

    return view


NODE_VERB_VIEWS = {verb: _node_verb_view(*spec) for verb, spec in NODE_VERBS.items()}


def node_verb(request, ns, uuid, verb):
    """POST a node verb; the work runs as an Action shown on the node's page."""
    view = NODE_VERB_VIEWS.get(verb)
    if view is None:
        raise Http404
    return view(request, ns=ns, uuid=uuid)


@org_view(read=None, write="change")
def node_edit(request, access, uuid):
    """Nickname and tags (an Action, as through the API)."""
    node = selectors.node_get(organization=access.organization, uuid=uuid)
    actor = Actor.from_request(request)
    try:
        with transaction.atomic():
            action = portal_action(request, access, "Node Update", node, node_uri(node))
            lifecycle.node_update(
                actor=actor,
                node=node,
                action=action,
                nickname=request.POST.get("nickname", "").strip(),
                tags=tags_from_text(request.POST.get("tags")),
            )
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"Saved {node}.")
    return redirect("nodes:node", ns=access.organization.name, uuid=node.uuid)
