"""Portal pages for an organization's credentials: list, add (per provider), edit, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect

from accounts.audit import Actor
from accounts.forms import apply_errors
from accounts.permissions import can
from accounts.selectors import organizations_for_user, teams_list
from accounts.views.base import org_view, render_org

from . import selectors, services
from .drivers import driver_names, get_driver_class
from .drivers.aws import IAM_POLICY, policy_text, trust_policy
from .forms import CredentialForm


@login_required
def credentials_home(request):
    """The navigation's entry: the credentials of the caller's personal organization."""
    orgs = organizations_for_user(user=request.user)
    org = orgs.filter(personal_for=request.user).first() or orgs.first()
    if org is None:
        raise Http404
    return redirect("providers:credentials", ns=org.name)


def _drivers() -> list:
    """Drivers that take a credential (the local lab needs none)."""
    return [get_driver_class(name) for name in driver_names() if get_driver_class(name).fields]


def _aws_setup(organization, *, create: bool) -> dict:
    """The IAM policy and the trust policy (with this organization's external id) to paste."""
    external_id: str | None
    if create:
        external_id = services.external_id_ensure(organization=organization)
    else:
        external_id = selectors.external_id_get(organization=organization)
    principal = services.aws_trust_principal()
    return {
        "external_id": external_id,
        "principal_known": principal is not None,
        "iam_policy": policy_text(IAM_POLICY),
        "trust_policy": policy_text(
            trust_policy(
                principal=principal or "arn:aws:iam::CONTROL-PLANE-ACCOUNT-ID:root",
                external_id=external_id or "(created with the first AWS role credential)",
            )
        ),
    }


@org_view(read="view")
def credentials(request, access):
    org = access.organization
    context = {
        "credentials": selectors.credentials_list(organization=org),
        "drivers": _drivers(),
    }
    return render_org(request, "providers/credentials.html", access, context)


def _driver_or_404(provider: str):
    if provider not in driver_names() or not get_driver_class(provider).fields:
        raise Http404
    return get_driver_class(provider)


@org_view(read="change", write="change")
def credential_new(request, access, provider):
    org, driver = access.organization, _driver_or_404(provider)
    form = CredentialForm(request.POST or None, driver=driver)
    if request.method == "POST" and form.is_valid():
        try:
            credential = services.credential_create(
                actor=Actor.from_request(request),
                organization=org,
                provider=provider,
                name=form.cleaned_data["name"],
                fields=form.values(),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Checked with {driver.label} and saved {credential.name}.")
            return redirect("providers:credential", ns=org.name, uuid=credential.uuid)
    context = {"driver": driver, "form": form, "available": driver.availability()}
    if driver.needs_external_id:
        context["aws"] = _aws_setup(org, create=True)
    return render_org(request, "providers/credential_new.html", access, context)


@org_view(read="view", write="change")
def credential_detail(request, access, uuid):
    org = access.organization
    credential = selectors.credential_get(organization=org, uuid=uuid)
    driver = get_driver_class(credential.provider)
    form = None
    if can(access, "change"):
        form = CredentialForm(request.POST or None, driver=driver, credential=credential)
    # A POST needs `change` (above), so it always has the form.
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            services.credential_update(
                actor=Actor.from_request(request),
                credential=credential,
                name=form.cleaned_data["name"],
                fields=form.values(),
            )
        except ValidationError as exc:
            credential.refresh_from_db()
            apply_errors(form, exc)
        else:
            messages.success(request, f"Saved {credential.name}.")
            return redirect("providers:credential", ns=org.name, uuid=credential.uuid)
    context = {
        "credential": credential,
        "driver": driver,
        "form": form,
        "use_teams": [grant.team.name for grant in credential.grants.all()],
    }
    if can(access, "manage"):
        context["teams"] = teams_list(organization=org)
    if driver.needs_external_id and can(access, "change"):
        context["aws"] = _aws_setup(org, create=False)
    return render_org(request, "providers/credential_detail.html", access, context)


@org_view(read=None, write="manage")
def credential_grants(request, access, uuid):
    """Which teams may deploy with the credential (checkboxes named `team`)."""
    org = access.organization
    credential = selectors.credential_get(organization=org, uuid=uuid)
    try:
        names = services.credential_grants_set(
            actor=Actor.from_request(request),
            credential=credential,
            teams=request.POST.getlist("team"),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        who = ", ".join(names) or "no team beyond the write level"
        messages.success(request, f"{credential.name} may be used by {who}.")
    return redirect("providers:credential", ns=org.name, uuid=credential.uuid)


@org_view(read=None, write="delete")
def credential_delete(request, access, uuid):
    org = access.organization
    credential = selectors.credential_get(organization=org, uuid=uuid)
    try:
        services.credential_delete(actor=Actor.from_request(request), credential=credential)
    except services.CredentialInUse as exc:
        messages.error(request, str(exc))
        return redirect("providers:credential", ns=org.name, uuid=credential.uuid)
    messages.success(request, f"Deleted the credential {credential.name}.")
    return redirect("providers:credentials", ns=org.name)
