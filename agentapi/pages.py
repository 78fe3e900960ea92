"""Portal pages that bring nodes in: a registration token and its install command, and an
install over SSH (its form sits on the node list, see templatetags/byo.py; its own page)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.timezone import now

from accounts.audit import Actor
from accounts.forms import apply_errors
from accounts.views.base import no_store, org_view, render_org
from core.publicurl import public_base, unreachable_reason
from nodes import selectors as node_selectors
from nodes import services as node_services
from nodes.models import FINAL_ACTION_STATES
from nodes.views.byo import list_page

from . import progress, selectors, services
from .install import install_command

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


@org_view(read=None, write="change")
def token_create(request, access):
    """A registration token and its install command, shown once on the page this POST answers."""
    token, plaintext = node_services.registration_token_create(
        actor=Actor.from_request(request), organization=access.organization
    )
    base = public_base(request)
    context = {
        "token_uuid": token.uuid,
        "command": install_command(base, plaintext),
        "unreachable": unreachable_reason(base),
        "base": base,
        "ttl_minutes": settings.DC_REGISTRATION_TOKEN_TTL // 60,
    }
    return no_store(render_org(request, "nodes/token_created.html", access, context))


@org_view(read=None, write="change")
def byo_ssh_create(request, access):
    form = ByoSshForm(request.POST)
    if form.is_valid():
        try:
            install = services.ssh_install_create(
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
            return redirect("agentapi:byo_ssh", ns=access.organization.name, uuid=install.uuid)
    return list_page(request, access, {"ssh_form": form})


@org_view(read="view")
def byo_ssh_detail(request, access, uuid):
    install = selectors.ssh_install_get(organization=access.organization, uuid=uuid)
    context = {
        "install": install,
        "in_progress": install.action.state not in FINAL_ACTION_STATES,
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render_org(request, "nodes/byo_ssh.html", access, context)


@org_view(read="view", write=None)
def token_status(request, access, uuid):
    """What became of an install command (polled by its page): waiting, expired, or the node
    its host registered as, with its state. Names the token by its uuid, never its secret."""
    token = node_selectors.registration_token_get(organization=access.organization, uuid=uuid)
    node = token.node
    body: dict = {"waiting": node is None, "expired": node is None and token.expires_at < now()}
    body |= progress.install_progress(token=token)
    if node is not None:
        body["node"] = {
            "name": str(node),
            "state": node.state,
            "url": reverse("nodes:node", args=[access.organization.name, node.uuid]),
        }
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response
