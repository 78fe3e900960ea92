"""The organization's maintenance page: settings (admins change them), clocks, images."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect

from accounts.audit import Actor
from accounts.forms import apply_errors
from accounts.selectors import teams_list
from accounts.views.base import org_view, render_org

from . import selectors, services
from .forms import SettingsForm

HISTORY = 50


def _initial(row) -> dict:
    return {
        "ssh_user": row.ssh_user,
        "ssh_team": str(row.ssh_team.uuid) if row.ssh_team_id else "",
        "clock_skew_max": row.clock_skew_max,
        "clock_sync_command": row.clock_sync_command,
        "log_files_kept": row.log_files_kept,
        "image_unused_minutes": row.image_unused_minutes,
        "image_keep": "\n".join(row.image_keep),
    }


@org_view(read="view", write="manage")
def maintenance(request, access):
    org = access.organization
    teams = list(teams_list(organization=org))
    row = selectors.settings_get(organization=org)
    form = SettingsForm(request.POST or None, initial=_initial(row), teams=teams)
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        chosen = changes.pop("ssh_team")
        changes["ssh_team"] = next((t for t in teams if str(t.uuid) == chosen), None)
        try:
            services.settings_update(
                actor=Actor.from_request(request), organization=org, changes=changes
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Saved. The nodes get the new settings within a minute.")
            return redirect("maintenance:settings", ns=org.name)
    states = list(selectors.node_states(organization=org))
    context = {
        "form": form,
        "row": row,
        "effective": selectors.effective(row),
        "states": states,
        "reclaimable": sum(s.images_reclaimable for s in states),
        "history": selectors.removals(organization=org)[:HISTORY],
    }
    return render_org(request, "maintenance/settings.html", access, context)
