"""Portal pages for nodes: the list with "bring your own node", one node, one SSH install."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect

from accounts.audit import Actor
from accounts.forms import apply_errors, error_text
from accounts.views.base import no_store, org_view, render_org
from agentapi import selectors as ssh_selectors
from agentapi import services as ssh_services
from agentapi.views import install_command, public_base

from . import actions, lifecycle, selectors, services
from .api import node_uri
from .models import FINAL_ACTION_STATES, NodeState

RECENT_INSTALLS = 10
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
        "nodes": selectors.nodes_list(organization=org),
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
        "actions": ssh_selectors.actions_for_object(organization=org, object_uuid=node.uuid),
        "installs": ssh_selectors.ssh_installs_for_node(organization=org, node_id=node.pk),
    }
    return render_org(request, "nodes/detail.html", access, context)


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
        "change",
        "Upgrading Docker on {node}.",
    ),
    "agent-upgrade": (
        "Node Upgrade Agent",
        lifecycle.node_agent_upgrade,
        "change",
        "Installing this control plane's agent on {node}.",
    ),
    "health-check": (
        "Node Health Check",
        lifecycle.node_health_check,
        "change",
        "Checking that the Docker daemon of {node} answers.",
    ),
}


def _node_verb_view(name: str, run, permission: str, message: str):
    @org_view(read=None, write=permission)
    def view(request, access, uuid):
        node = selectors.node_get(organization=access.organization, uuid=uuid)
        if run is lifecycle.node_terminate and node.state in ENDING:
            messages.info(request, f"{node} is {node.state.lower()} already.")
            return redirect("nodes:node", ns=access.organization.name, uuid=node.uuid)
        actor = Actor.from_request(request)
        try:
            # One unit: a refused verb (a concurrent terminate) must not leave a Pending action.
            with transaction.atomic():
                action = actions.action_create(
                    actor=actor,
                    organization=access.organization,
                    action=name,
                    object_uri=node_uri(node),
                    object_uuid=node.uuid,
                    method="POST",
                    path=request.path,
                    user_agent=request.META.get("HTTP_USER_AGENT", ""),
                )
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
