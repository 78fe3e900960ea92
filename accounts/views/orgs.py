"""The dashboard, organization creation and overview, and members."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import selectors, services
from ..audit import Actor
from ..forms import (
    MemberAddForm,
    MemberRoleForm,
    OrganizationCreateForm,
    OrganizationUpdateForm,
    apply_errors,
    error_text,
)
from ..models import Role
from ..permissions import can
from .base import LAST_ORG, org_view, render_org


@login_required
def dashboard(request):
    # The membership join made by the selector's filter is reused, so `role` is the caller's.
    organizations = selectors.organizations_for_user(user=request.user).annotate(
        role=F("memberships__role")
    )
    context = {"organizations": organizations, "form": OrganizationCreateForm()}
    # The fleet of the organization last looked at (else the personal one) leads the page.
    names = [request.session.get(LAST_ORG), request.user.username]
    current = next((o for name in names for o in organizations if o.name == name), None)
    if current is not None:
        access = selectors.organization_access(request=request, name=current.name)
        context |= {"current": current, "current_can_change": can(access, "change")}
    return render(request, "accounts/dashboard.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def organization_create(request):
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organization_create(
                actor=Actor.from_request(request), **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Created the organization {org.name}.")
            return redirect("accounts:org", ns=org.name)
    return render(request, "accounts/organization_new.html", {"form": form})


@org_view(read="view", write="manage")
def organization_detail(request, access):
    form = OrganizationUpdateForm(
        request.POST or None, initial={"display_name": access.organization.display_name}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_update(
                actor=Actor.from_request(request),
                organization=access.organization,
                display_name=form.cleaned_data["display_name"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("accounts:org", ns=access.organization.name)
    return render_org(request, "accounts/org/detail.html", access, {"form": form})


@org_view(read="view", write="manage")
def members(request, access):
    org = access.organization
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.membership_add(
                actor=Actor.from_request(request), organization=org, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Added {membership.user.username} as {membership.role}.")
            return redirect("accounts:members", ns=org.name)
    context = {
        "members": selectors.members_list(organization=org),
        "form": form,
        "roles": Role.choices,  # those of MemberRoleForm
    }
    return render_org(request, "accounts/org/members.html", access, context)


@org_view(read=None, write="manage")
def member_role(request, access, username: str):
    membership = selectors.member_get(organization=access.organization, username=username)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{username}: choose a role (owner, admin or member).")
        return redirect("accounts:members", ns=access.organization.name)
    try:
        services.membership_set_role(
            actor=Actor.from_request(request), membership=membership, role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        messages.error(request, f"{username}: {error_text(exc)}")
    else:
        messages.success(request, f"{username} is now {membership.role}.")
    return redirect("accounts:members", ns=access.organization.name)


@org_view(read=None, write="view")
def member_remove(request, access, username: str):
    """Admins remove anyone; any member may remove themselves (leave)."""
    leaving = username == request.user.username
    if not can(access, "leave" if leaving else "manage"):
        raise PermissionDenied
    membership = selectors.member_get(organization=access.organization, username=username)
    try:
        services.membership_remove(actor=Actor.from_request(request), membership=membership)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("accounts:members", ns=access.organization.name)
    if leaving:
        messages.success(request, f"You left {access.organization.name}.")
        return redirect("accounts:dashboard")
    messages.success(request, f"Removed {username}.")
    return redirect("accounts:members", ns=access.organization.name)
