"""Portal pages for nodes: the list with "bring your own node", one node, one SSH install;
node clusters: the list with a create form, one cluster with its verbs."""

from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect

from accounts import selectors as account_selectors
from accounts.audit import Actor
from accounts.forms import apply_errors, error_text
from accounts.permissions import can, can_by_grant
from accounts.views.base import no_store, org_view, render_org
from agentapi import selectors as ssh_selectors
from agentapi import services as ssh_services
from agentapi.views import install_command, public_base
from providers import selectors as provider_selectors
from providers import services as provider_services

from . import clusters, docker_client, lifecycle, selectors, services
from .api import node_uri
from .api.base import INFRA
from .api.clusters import cluster_uri
from .models import FINAL_ACTION_STATES, ClusterState, NodeState
from .transitions import actions

RECENT_INSTALLS = 10
NODE_PAGE_VERBS = ("change", "upgrade", "agent_upgrade", "health_check", "terminate")
REFRESH_SECONDS = 2


class SecretTextarea(forms.Textarea):
    """Never sends a private key back to the browser, not even with a form error."""

    def format_value(self, value):
        return None


class ByoSshForm(forms.Form):
    """Shape only: `agentapi.services.ssh_install_create` owns the rules."""

    host = forms.CharField(max_length=255, help_text="An address the control plane can reach.")
    port = forms.IntegerField(min_value=1, max_value=65535, initial=22)
    username = forms.CharField(
        max_length=32, initial="root", help_text="root, or a user who may run sudo."
    )
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False)
    )
    private_key = forms.CharField(
        required=False,
        strip=False,
        widget=SecretTextarea(attrs={"rows": 4, "placeholder": "-----BEGIN OPENSSH PRIVATE KEY…"}),
        help_text="Instead of a password: an unencrypted Ed25519, ECDSA or RSA key.",
    )
    host_key_fingerprint = forms.CharField(
        required=False,
        max_length=100,
        label="Expected host key fingerprint",
        help_text="Optional: SHA256:… (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the "
        "host). Any other key is refused before the password or key is sent.",
    )


def _list_page(request, access, ssh_form: ByoSshForm):
    org = access.organization
    context = {
        "nodes": selectors.nodes_list(organization=org).select_related("node_cluster"),
        "installs": ssh_selectors.ssh_installs_list(organization=org)[:RECENT_INSTALLS],
        "ssh_form": ssh_form,
    }
    return render_org(request, "nodes/list.html", access, context)


@org_view(read="view")
def nodes_list(request, access):
    return _list_page(request, access, ByoSshForm())


@org_view(read=None, write="change")
def token_create(request, access):
    """A registration token and its install command, shown once on the page this POST answers."""
    _, plaintext = services.registration_token_create(
        actor=Actor.from_request(request), organization=access.organization
    )
    context = {
        "command": install_command(public_base(request), plaintext),
        "ttl_minutes": settings.DC_REGISTRATION_TOKEN_TTL // 60,
    }
    return no_store(render_org(request, "nodes/token_created.html", access, context))


@org_view(read=None, write="change")
def byo_ssh_create(request, access):
    form = ByoSshForm(request.POST)
    if form.is_valid():
        try:
            install = ssh_services.ssh_install_create(
                actor=Actor.from_request(request),
                organization=access.organization,
                base_url=public_base(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Installing on {install} over SSH.")
            return redirect("nodes:byo_ssh", ns=access.organization.name, uuid=install.uuid)
    return _list_page(request, access, form)


@org_view(read="view")
def byo_ssh_detail(request, access, uuid):
    install = ssh_selectors.ssh_install_get(organization=access.organization, uuid=uuid)
    context = {
        "install": install,
        "in_progress": install.action.state not in FINAL_ACTION_STATES,
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render_org(request, "nodes/byo_ssh.html", access, context)


@org_view(read="view")
def node_detail(request, access, uuid):
    node = selectors.node_get(organization=access.organization, uuid=uuid)
    org = access.organization
    context = {
        "node": node,
        "metric": node.last_metric or {},
        "ending": node.state in (NodeState.TERMINATING, NodeState.TERMINATED),
        "actions": selectors.actions_for_object(organization=org, object_uuid=node.uuid),
        "installs": ssh_selectors.ssh_installs_for_node(organization=org, node_id=node.pk),
        "may": {verb: can(access, verb, node) for verb in NODE_PAGE_VERBS},
    }
    return render_org(request, "nodes/detail.html", access, context)


def _portal_action(request, access, name: str, obj=None, object_uri: str = ""):
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


CONTAINERS_TIMEOUT = 10  # seconds: a daemon that answers slower is shown as not answering
REACHABLE = (NodeState.DEPLOYED, NodeState.UPGRADING)


def _readable_node(request, ns: str, uuid) -> tuple:
    access = account_selectors.organization_access(request=request, name=ns)
    if not can(access, "view"):
        raise PermissionDenied
    node = selectors.node_get(organization=access.organization, uuid=uuid)
    if node.state in REACHABLE:
        docker_client.prepare(node)  # the TLS files, read from the database here
    return access, node


def _containers(node) -> tuple[list[dict], str]:
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
    containers, error = [], ""
    if node.state in REACHABLE:
        containers, error = await sync_to_async(_containers, thread_sensitive=False)(node)
    context = {"node": node, "containers": containers, "error": error, "reachable": REACHABLE}
    return await sync_to_async(render_org)(request, "nodes/containers.html", access, context)


ENDING = (NodeState.TERMINATING, NodeState.TERMINATED)
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
                action = _portal_action(request, access, name, node, node_uri(node))
                run(actor=actor, node=node, action=action)
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, message.format(node=node))
        return redirect("nodes:node", ns=access.organization.name, uuid=node.uuid)

    return view


@org_view(read=None, write="change")
def node_edit(request, access, uuid):
    """Nickname and tags (an Action, as through the API)."""
    node = selectors.node_get(organization=access.organization, uuid=uuid)
    actor = Actor.from_request(request)
    try:
        with transaction.atomic():
            action = _portal_action(request, access, "Node Update", node, node_uri(node))
            lifecycle.node_update(
                actor=actor,
                node=node,
                action=action,
                nickname=request.POST.get("nickname", "").strip(),
                tags=_tags(request.POST.get("tags")),
            )
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"Saved {node}.")
    return redirect("nodes:node", ns=access.organization.name, uuid=node.uuid)


NODE_VERB_VIEWS = {verb: _node_verb_view(*spec) for verb, spec in NODE_VERBS.items()}


def node_verb(request, ns, uuid, verb):
    """POST a node verb; the work runs as an Action shown on the node's page."""
    view = NODE_VERB_VIEWS.get(verb)
    if view is None:
        raise Http404
    return view(request, ns=ns, uuid=uuid)


# --- node clusters --------------------------------------------------------------------------
class ClusterForm(forms.Form):
    """Shape only: `clusters.cluster_create` owns the rules (placement, credential, counts)."""

    name = forms.CharField(max_length=100)
    region = forms.ChoiceField(help_text="Provider and region.")
    node_type = forms.ChoiceField()
    credential = forms.ChoiceField(
        required=False, help_text="Needed when the organization has several for the provider."
    )
    target_num_nodes = forms.IntegerField(
        label="Nodes", min_value=0, max_value=clusters.MAX_NODES, initial=1
    )
    disk = forms.IntegerField(label="Disk (GB)", min_value=1, max_value=16384, initial=60)
    deploy = forms.BooleanField(required=False, initial=True, label="Deploy now")

    def __init__(self, *args, access, **kwargs):
        super().__init__(*args, **kwargs)
        org = access.organization
        provider_services.catalog_ensure()
        credentials = [
            c
            for c in provider_selectors.credentials_list(organization=org)
            if can(access, "use", c)
        ]
        if can(access, "use"):
            usable = provider_selectors.providers_usable(organization=org)
        else:  # granted credentials only: their providers, not the credential-less ones
            usable = {c.provider for c in credentials}
        self.fields["region"].choices = [
            (f"{INFRA}region/{r.provider.name}/{r.name}/", f"{r.provider.label}: {r.label}")
            for r in provider_selectors.regions_list().filter(
                provider__name__in=usable, provider__available=True, available=True
            )
        ]
        self.fields["node_type"].choices = [
            (f"{INFRA}nodetype/{t.provider.name}/{t.name}/", f"{t.provider.label}: {t.label}")
            for t in provider_selectors.node_types_list().filter(
                provider__name__in=usable, provider__available=True, available=True
            )
        ]
        self.fields["credential"].choices = [
            ("", "automatic (the provider's only one; none for the local lab)")
        ] + [(str(c.uuid), f"{c.name} ({c.provider})") for c in credentials]


def _may_use_named_credential(access, post) -> bool:
    """A credential of the organization named in the form that the caller may not use is a
    403, as through the API (the form would only call it "not a valid choice")."""
    named = selectors.uuid_or_none(post.get("credential"))
    credential = (
        provider_selectors.credentials_list(organization=access.organization)
        .filter(uuid=named)
        .first()
        if named
        else None
    )
    return credential is None or can(access, "use", credential)


def _may_deploy(access) -> bool:
    """Create clusters: `use` on the organization, or a grant of some credential."""
    return can(access, "use") or can_by_grant(access, "use", "credential")


def _clusters_page(request, access, form: ClusterForm | None):
    context = {
        "clusters": selectors.clusters_list(organization=access.organization).annotate(
            deployed_count=Count("nodes", filter=Q(nodes__state=NodeState.DEPLOYED))
        ),
        "form": form if form is not None else ClusterForm(access=access),
        "may_deploy": _may_deploy(access),
    }
    return render_org(request, "nodes/clusters.html", access, context)


@org_view(read="view", write="view")  # POST: checked below (a credential grant suffices)
def clusters_list(request, access):
    if request.method != "POST":
        return _clusters_page(request, access, None)
    if not _may_deploy(access) or not _may_use_named_credential(access, request.POST):
        raise PermissionDenied
    form = ClusterForm(request.POST, access=access)
    if form.is_valid():
        data = dict(form.cleaned_data)
        deploy = data.pop("deploy")
        actor = Actor.from_request(request)
        try:
            with transaction.atomic():  # nothing half-made: no cluster, no action
                create = _portal_action(request, access, "Node Cluster Create")
                cluster = clusters.cluster_create(
                    actor=actor, access=access, action=create,
                    install_url=public_base(request, for_provider=True),
                    **{**data, "credential": data["credential"] or None},
                )  # fmt: skip
                if deploy:
                    deploy_action = _portal_action(
                        request, access, "Node Cluster Deploy", cluster, cluster_uri(cluster)
                    )
                    clusters.cluster_deploy(actor=actor, cluster=cluster, action=deploy_action)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request, f"Deploying {cluster.name}." if deploy else f"Created {cluster.name}."
            )
            return redirect("nodes:cluster", ns=access.organization.name, uuid=cluster.uuid)
    return _clusters_page(request, access, form)


@org_view(read="view")
def cluster_detail(request, access, uuid):
    cluster = selectors.cluster_get(organization=access.organization, uuid=uuid)
    context = {
        "cluster": cluster,
        "nodes": selectors.nodes_list(organization=access.organization)
        .filter(node_cluster=cluster)
        .exclude(state=NodeState.TERMINATED)
        .order_by("created"),
        "actions": selectors.actions_for_object(
            organization=access.organization, object_uuid=cluster.uuid
        ),
        "may": {verb: can(access, verb, cluster) for verb in CLUSTER_PAGE_VERBS},
        "ending": cluster.state in (ClusterState.TERMINATING, ClusterState.TERMINATED),
    }
    return render_org(request, "nodes/cluster.html", access, context)


def _tags(value) -> list[dict]:
    """Tags as the portal's text field gives them: comma-separated names."""
    return lifecycle.clean_tags([n.strip() for n in (value or "").split(",") if n.strip()])


CLUSTER_PAGE_VERBS = ("change", "deploy", "upgrade", "terminate")
# Portal verbs on a cluster: URL segment -> (Action name, permission verb, run, message).
# `run(actor, cluster, action, post)` does the verb; a ValidationError refuses it.
CLUSTER_VERBS = {
    "deploy": (
        "Node Cluster Deploy", "deploy",
        lambda post, **kw: clusters.cluster_deploy(**kw),
        "Deploying {cluster}.",
    ),
    "scale": (
        "Node Cluster Scale", "change",
        lambda post, **kw: clusters.cluster_update(
            **kw, target_num_nodes=_target(post.get("target_num_nodes"))
        ),
        "Scaling {cluster} to {cluster.target_num_nodes} nodes.",
    ),
    "tags": (
        "Node Cluster Update", "change",
        lambda post, **kw: clusters.cluster_update(**kw, tags=_tags(post.get("tags"))),
        "Tags of {cluster} saved; its nodes carry them too.",
    ),
    "docker-upgrade": (
        "Node Cluster Upgrade Docker", "upgrade",
        lambda post, **kw: clusters.cluster_docker_upgrade(**kw),
        "Upgrading Docker on the nodes of {cluster}.",
    ),
    "terminate": (
        "Node Cluster Terminate", "terminate",
        lambda post, **kw: clusters.cluster_terminate(**kw),
        "Terminating {cluster} and its nodes.",
    ),
}  # fmt: skip


@org_view(read=None, write="view")  # checked below (a credential grant suffices)
def cluster_verb(request, access, uuid, verb):
    """POST a cluster verb; the work runs as an Action shown on the cluster's page."""
    if verb not in CLUSTER_VERBS:
        raise Http404
    name, permission, run, message = CLUSTER_VERBS[verb]
    cluster = selectors.cluster_get(organization=access.organization, uuid=uuid)
    if not can(access, permission, cluster):
        raise PermissionDenied
    actor = Actor.from_request(request)
    try:
        with transaction.atomic():  # a refused verb leaves no Pending action
            action = _portal_action(request, access, name, cluster, cluster_uri(cluster))
            run(request.POST, actor=actor, cluster=cluster, action=action)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, message.format(cluster=cluster))
    return redirect("nodes:cluster", ns=access.organization.name, uuid=cluster.uuid)


def _target(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError({"target_num_nodes": ["Give a number of nodes."]}) from None
