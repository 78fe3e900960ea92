"""Node clusters' pages: the list with a create form, one cluster with its verbs."""

from typing import cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect

from accounts.audit import Actor
from accounts.forms import apply_errors, flash_errors
from accounts.permissions import Access, can, can_by_grant
from accounts.views.base import org_view, render_org
from core.publicurl import public_base
from providers import selectors as provider_selectors
from providers import services as provider_services

from .. import clusters, selectors
from ..api.base import INFRA
from ..api.clusters import cluster_uri
from ..models import ClusterState, NodeState
from .base import portal_action, tags_from_text

CLUSTER_PAGE_VERBS = ("change", "deploy", "upgrade", "terminate")


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

    def __init__(self, *args, access: Access, **kwargs) -> None:
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
        cast(forms.ChoiceField, self.fields["region"]).choices = [
            (f"{INFRA}region/{r.provider.name}/{r.name}/", f"{r.provider.label}: {r.label}")
            for r in provider_selectors.regions_list().filter(
                provider__name__in=usable, provider__available=True, available=True
            )
        ]
        cast(forms.ChoiceField, self.fields["node_type"]).choices = [
            (f"{INFRA}nodetype/{t.provider.name}/{t.name}/", f"{t.provider.label}: {t.label}")
            for t in provider_selectors.node_types_list().filter(
                provider__name__in=usable, provider__available=True, available=True
            )
        ]
        cast(forms.ChoiceField, self.fields["credential"]).choices = [
            ("", "automatic (the provider's only one; none for the local lab)")
        ] + [(str(c.uuid), f"{c.name} ({c.provider})") for c in credentials]


def _may_use_named_credential(access: Access, post: QueryDict) -> bool:
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


def _may_deploy(access: Access) -> bool:
    """Create clusters: `use` on the organization, or a grant of some credential."""
    return can(access, "use") or can_by_grant(access, "use", "credential")


def _clusters_page(request: HttpRequest, access: Access, form: ClusterForm | None) -> HttpResponse:
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
                create = portal_action(request, access, "Node Cluster Create")
                cluster = clusters.cluster_create(
                    actor=actor, access=access, action=create,
                    install_url=public_base(request),
                    **{**data, "credential": data["credential"] or None},
                )  # fmt: skip
                if deploy:
                    deploy_action = portal_action(
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


def _target(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise ValidationError({"target_num_nodes": ["Give a number of nodes."]}) from None


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
        lambda post, **kw: clusters.cluster_update(**kw, tags=tags_from_text(post.get("tags"))),
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
            action = portal_action(request, access, name, cluster, cluster_uri(cluster))
            run(request.POST, actor=actor, cluster=cluster, action=action)
    except ValidationError as exc:
        flash_errors(request, exc, fields=("target_num_nodes", "tags"))
    else:
        messages.success(request, message.format(cluster=cluster))
    return redirect("nodes:cluster", ns=access.organization.name, uuid=cluster.uuid)
