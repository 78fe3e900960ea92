"""Portal pages of containers: the list with the run form, one container, its logs, and its
verbs (POST, each an Action shown on its page)."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect

from accounts.audit import Actor
from accounts.forms import error_text
from accounts.permissions import Access, can
from accounts.views.base import org_view, render_org
from nodes.selectors import actions_for_object, nodes_list
from nodes.transitions import actions

from . import logs, runtime, selectors, services
from .api import container_body, node_from_input
from .models import Container, ContainerState
from .transitions import container_uri

PAGE_VERBS = ("change", "deploy", "terminate")
RUN_FIELDS = ("name", "image", "run_command", "node", "tag")  # the run form's fields
LOG_LINES = 200


def _action(request, access: Access, name: str, container: Container | None = None):
    return actions.action_create(
        actor=Actor.from_request(request),
        organization=access.organization,
        action=name,
        object_uri=container_uri(container) if container else "",
        object_uuid=container.uuid if container else None,
        method="POST",
        path=request.path,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


def _deployed_nodes(access: Access) -> list:
    return [n for n in nodes_list(organization=access.organization) if n.state == "Deployed"]


@org_view(read="view", write="deploy")
def containers_list(request, access):
    """The organization's containers; POST runs one."""
    org = access.organization
    errors: dict[str, list[str]] = {}
    form = request.POST
    if request.method == "POST":
        try:
            with transaction.atomic():
                act = _action(request, access, "Container Run")
                container = services.container_run(
                    actor=Actor.from_request(request),
                    organization=org,
                    action=act,
                    name=form.get("name", "").strip(),
                    image=form.get("image", "").strip(),
                    run_command=form.get("run_command", "").strip(),
                    node=node_from_input(org, form.get("node", "")),
                    tag=form.get("tag", "").strip()[:100],
                )
        except ValidationError as exc:
            # Shown beside the field at fault, the values kept; the rest above the form.
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        else:
            messages.success(request, f"Running {container} on {container.node}.")
            return redirect("containers:container", ns=org.name, uuid=container.uuid)
    rows = selectors.containers_list(organization=org)
    show_all = request.GET.get("all") == "1"
    if not show_all:
        rows = rows.exclude(state=ContainerState.TERMINATED)
    context = {
        "containers": rows[:500],
        "nodes": _deployed_nodes(access),
        "show_all": show_all,
        "fields": {f: {"value": form.get(f, ""), "errors": errors.get(f, [])} for f in RUN_FIELDS},
        "other_errors": [m for k, v in errors.items() if k not in RUN_FIELDS for m in v],
    }
    return render_org(request, "containers/list.html", access, context)


@org_view(read="view")
def container_detail(request, access, uuid):
    container = selectors.container_get(organization=access.organization, uuid=uuid)
    context = {
        "container": container,
        "inspect": container_body(container),
        "ended": container.state == ContainerState.TERMINATED,
        "nodes": _deployed_nodes(access),
        "actions": actions_for_object(organization=access.organization, object_uuid=container.uuid),
        "may": {verb: can(access, verb, container) for verb in PAGE_VERBS},
    }
    return render_org(request, "containers/detail.html", access, context)


@org_view(read="view")
def container_logs(request, access, uuid):
    """Its last lines of output, asked of its node's daemon now (a bounded read)."""
    container = selectors.container_get(organization=access.organization, uuid=uuid)
    lines, error = [], ""
    try:
        lines = logs.container_logs(container, tail=LOG_LINES)
    except runtime.RuntimeFailure as exc:
        error = str(exc)
    context = {"container": container, "lines": lines, "error": error}
    return render_org(request, "containers/logs.html", access, context)


# URL segment -> (Action name, service, permission, message).
VERBS: dict[str, tuple[str, Callable[..., None], str, str]] = {
    "start": ("Container Start", services.container_start, "change", "Starting {c}."),
    "stop": ("Container Stop", services.container_stop, "change", "Stopping {c}."),
    "redeploy": ("Container Redeploy", services.container_redeploy, "deploy", "Redeploying {c}."),
    "terminate": (
        "Container Terminate",
        services.container_terminate,
        "terminate",
        "Terminating {c}.",
    ),
}


@org_view(read=None, write="view")  # checked below, per verb
def container_verb(request, access, uuid, verb):
    spec = VERBS.get(verb)
    if spec is None:
        raise Http404
    name, run, permission, message = spec
    container = selectors.container_get(organization=access.organization, uuid=uuid)
    if not can(access, permission, container):
        raise PermissionDenied
    kwargs = {}
    try:
        if verb == "redeploy":
            kwargs["node"] = node_from_input(access.organization, request.POST.get("node", ""))
        with transaction.atomic():  # a refused verb leaves no Pending action
            act = _action(request, access, name, container)
            run(actor=Actor.from_request(request), container=container, action=act, **kwargs)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, message.format(c=container))
    return redirect("containers:container", ns=access.organization.name, uuid=container.uuid)
