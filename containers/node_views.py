"""Portal pages for any container of a node's daemon (the node's containers page): its
verbs (POST, each an Action on the node) and its followed logs."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import redirect

from accounts.audit import Actor
from accounts.forms import error_text
from accounts.permissions import can
from accounts.views.base import org_view, render_org
from nodes.api import node_uri
from nodes.docker_client import prepare
from nodes.selectors import node_get
from nodes.views.base import portal_action

from . import daemon, logs, runtime

LOG_LINES = 200


def _node_and_id(access, uuid, docker_id: str):
    node = node_get(organization=access.organization, uuid=uuid)
    if not daemon.DOCKER_ID.match(docker_id):
        raise Http404
    return node


@org_view(read=None, write="view")  # checked below, per verb, on the node
def node_container_verb(request, access, uuid, docker_id, verb):
    spec = daemon.VERBS.get(verb)
    if spec is None:
        raise Http404
    name, permission, message = spec
    node = _node_and_id(access, uuid, docker_id)
    if not can(access, permission, node):
        raise PermissionDenied
    label = request.POST.get("name", "").strip()[: daemon.MAX_NAME] or docker_id[:12]
    try:
        with transaction.atomic():  # a refused verb leaves no Pending action
            act = portal_action(request, access, name, node, node_uri(node))
            daemon.node_container_verb(
                actor=Actor.from_request(request),
                node=node,
                action=act,
                verb=verb,
                docker_id=docker_id,
                name=label,
            )
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, message.format(name=label, node=node))
    return redirect("nodes:containers", ns=access.organization.name, uuid=node.uuid)


def _since(value: str) -> tuple[int, int] | None:
    """`seconds.nanoseconds` of the last line the page has (as the daemon's log keys)."""
    seconds, _, nanos = value.partition(".")
    if not (seconds.isdigit() and nanos.isdigit()) or len(seconds) > 12 or len(nanos) > 9:
        return None
    return int(seconds), int(nanos)


@org_view(read="view")
def node_container_logs(request, access, uuid, docker_id):
    """The container's last lines; with `?after=<key>` (the page following them), the lines
    since, as JSON. Read of the node's daemon now, in bounded pieces (containers.logs)."""
    node = _node_and_id(access, uuid, docker_id)
    after = request.GET.get("after")
    since = _since(after) if after is not None else None
    if after is not None and since is None:
        return JsonResponse({"error": {"after": ["Give seconds.nanoseconds."]}}, status=400)
    lines, error = [], ""
    try:
        prepare(node)
        lines = logs.daemon_logs(node, docker_id, tail=LOG_LINES, since=since, label=docker_id[:12])
    except (runtime.RuntimeFailure, RuntimeError) as exc:
        error = str(exc)
    last = lines[-1]["key"] if lines else since
    key = f"{last[0]}.{last[1]:09d}" if last else "0.000000000"
    if after is not None:
        return JsonResponse({"lines": logs.public(lines), "after": key, "error": error})
    context = {"node": node, "docker_id": docker_id, "lines": lines, "error": error, "after": key}
    return render_org(request, "containers/node_logs.html", access, context)
