"""Invitations: admins create and revoke them; the invited person accepts through a link."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from .. import selectors, services
from ..audit import Actor
from ..forms import InvitationForm, apply_errors, error_text
from .base import org_view, render_org


def accept_url(request) -> str:
    """The link template the service formats `{token}` into (same shape as the API's)."""
    # build_absolute_uri() percent-encodes braces, so the placeholder goes in afterwards.
    path = reverse("accounts:invitation_accept", kwargs={"token": "TOKEN"})
    return request.build_absolute_uri("/").rstrip("/") + path.replace("TOKEN", "{token}")


@org_view(read="manage", write="manage")
def invitations(request, access):
    org = access.organization
    form = InvitationForm(request.POST or None, teams=selectors.teams_list(organization=org))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation, token = services.invitation_create(
                actor=Actor.from_request(request),
                organization=org,
                email=data["email"],
                role=data["role"],
                team=data["team"],
                accept_url=accept_url(request),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            link = accept_url(request).format(token=token)
            messages.success(
                request,
                f"Invited {invitation.email}; the link was emailed. It is shown only now: {link}",
            )
            return redirect("accounts:invitations", ns=org.name)
    context = {"invitations": selectors.invitations_list(organization=org), "form": form}
    return render_org(request, "accounts/org/invitations.html", access, context)


@org_view(read=None, write="manage")
def invitation_revoke(request, access, uuid):
    invitation = selectors.invitation_get(organization=access.organization, uuid=uuid)
    services.invitation_revoke(actor=Actor.from_request(request), invitation=invitation)
    messages.success(request, f"Revoked the invitation of {invitation.email}.")
    return redirect("accounts:invitations", ns=access.organization.name)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def invitation_accept(request, token: str):
    """GET asks for confirmation (so a link preview cannot accept); POST joins."""
    error = None
    if request.method == "POST":
        try:
            membership = services.invitation_accept(actor=Actor.from_request(request), token=token)
        except ValidationError as exc:
            error = error_text(exc)
        else:
            org = membership.organization
            messages.success(request, f"You joined {org.name} as {membership.role}.")
            return redirect("accounts:org", ns=org.name)
    return render(request, "accounts/invitation_accept.html", {"error": error})
