"""Teams of an organization: list, create, edit (name, permission, members), delete."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect

from .. import selectors, services
from ..audit import Actor
from ..forms import TeamEditForm, TeamForm, apply_errors
from .base import org_view, render_org


@org_view(read="view", write="manage")
def teams(request, access):
    org = access.organization
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(
                actor=Actor.from_request(request), organization=org, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Created the team {team.name}.")
            return redirect("accounts:team", ns=org.name, uuid=team.uuid)
    context = {"teams": selectors.teams_list(organization=org), "form": form}
    return render_org(request, "accounts/org/teams.html", access, context)


@org_view(read="view", write="manage")
def team_detail(request, access, uuid):
    org = access.organization
    team = selectors.team_get(organization=org, uuid=uuid)
    initial = {
        "name": team.name,
        "permission": team.permission,
        "members": [user.username for user in team.members.all()],
    }
    usernames = [m.user.username for m in selectors.members_list(organization=org)]
    form = TeamEditForm(request.POST or None, initial=initial, usernames=usernames)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor = Actor.from_request(request)
        try:
            with transaction.atomic():  # all three fields or none
                services.team_update(
                    actor=actor, team=team, name=data["name"], permission=data["permission"]
                )
                services.team_set_members(actor=actor, team=team, usernames=data["members"])
        except ValidationError as exc:
            team.refresh_from_db()  # the rolled-back update may have renamed it in memory
            apply_errors(form, exc)
        else:
            messages.success(request, f"Saved the team {data['name']}.")
            return redirect("accounts:team", ns=org.name, uuid=team.uuid)
    context = {"team": team, "form": form}
    return render_org(request, "accounts/org/team_detail.html", access, context)


@org_view(read=None, write="manage")
def team_delete(request, access, uuid):
    team = selectors.team_get(organization=access.organization, uuid=uuid)
    services.team_delete(actor=Actor.from_request(request), team=team)
    messages.success(request, f"Deleted the team {team.name}.")
    return redirect("accounts:teams", ns=access.organization.name)
