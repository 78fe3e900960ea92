"""The signed-in user's own settings: API keys and SSH keys."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors, services
from ..audit import Actor
from ..forms import SshKeyForm, UserApiKeyForm, apply_errors
from .base import no_store


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def apikeys(request):
    organizations = selectors.organizations_for_user(user=request.user)
    form = UserApiKeyForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        try:
            key, plaintext = services.apikey_create(
                actor=Actor.from_request(request), user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            # Shown in this response only: the plaintext is never stored, not even in the session.
            context = {"key": key, "plaintext": plaintext}
            return no_store(render(request, "accounts/settings/apikey_created.html", context))
    context = {"keys": selectors.apikeys_for_user(user=request.user), "form": form}
    return render(request, "accounts/settings/apikeys.html", context)


@login_required
@require_POST
def apikey_revoke(request, uuid):
    key = selectors.apikey_get(user=request.user, uuid=uuid)
    services.apikey_revoke(actor=Actor.from_request(request), key=key)
    messages.success(request, f"Revoked the key {key.label}.")
    return redirect("accounts:apikeys")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def sshkeys(request):
    form = SshKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key = services.sshkey_add(
                actor=Actor.from_request(request), user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Added the key {key.label} ({key.fingerprint}).")
            return redirect("accounts:sshkeys")
    context = {"keys": selectors.sshkeys_for_user(user=request.user), "form": form}
    return render(request, "accounts/settings/sshkeys.html", context)


@login_required
@require_POST
def sshkey_delete(request, uuid):
    key = selectors.sshkey_get(user=request.user, uuid=uuid)
    services.sshkey_delete(actor=Actor.from_request(request), key=key)
    messages.success(request, f"Deleted the key {key.label}.")
    return redirect("accounts:sshkeys")
