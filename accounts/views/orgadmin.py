"""Admin-only pages of an organization: the audit log and service accounts."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect

from .. import selectors, services
from ..audit import Actor
from ..forms import ApiKeyForm, ServiceAccountForm, apply_errors
from .base import no_store, org_view, render_org

AUDIT_PAGE_SIZE = 50


@org_view(read="manage")
def audit(request, access):
    entries = selectors.audit_list(organization=access.organization)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render_org(request, "accounts/org/audit.html", access, {"page": page})


@org_view(read="manage", write="manage")
def service_accounts(request, access):
    org = access.organization
    form = ServiceAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.service_account_create(
                actor=Actor.from_request(request), organization=org, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Created the service account {account.username}.")
            return redirect("accounts:service_account", ns=org.name, uuid=account.uuid)
    context = {"accounts": selectors.service_accounts_list(organization=org), "form": form}
    return render_org(request, "accounts/org/service_accounts.html", access, context)


def _account_page(request, access, account, key_form):
    context = {
        "account": account,
        "keys": selectors.apikeys_for_user(user=account),
        "key_form": key_form,
    }
    return render_org(request, "accounts/org/service_account.html", access, context)


@org_view(read="manage")
def service_account_detail(request, access, uuid):
    account = selectors.service_account_get(organization=access.organization, uuid=uuid)
    return _account_page(request, access, account, ApiKeyForm())


@org_view(read=None, write="manage")
def service_account_delete(request, access, uuid):
    account = selectors.service_account_get(organization=access.organization, uuid=uuid)
    services.service_account_delete(actor=Actor.from_request(request), account=account)
    messages.success(request, f"Deleted the service account {account.username} and its keys.")
    return redirect("accounts:service_accounts", ns=access.organization.name)


@org_view(read=None, write="manage")
def service_account_key_create(request, access, uuid):
    """Create a key for the account and show it in this response only; it is never stored."""
    account = selectors.service_account_get(organization=access.organization, uuid=uuid)
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            key, plaintext = services.apikey_create(
                actor=Actor.from_request(request),
                user=account,
                organization=access.organization,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            context = {"key": key, "plaintext": plaintext, "account": account}
            response = render_org(request, "accounts/org/service_account_key.html", access, context)
            return no_store(response)
    return _account_page(request, access, account, form)


@org_view(read=None, write="manage")
def service_account_key_revoke(request, access, uuid, key_uuid):
    account = selectors.service_account_get(organization=access.organization, uuid=uuid)
    key = selectors.apikey_get(user=account, uuid=key_uuid)
    services.apikey_revoke(actor=Actor.from_request(request), key=key)
    messages.success(request, f"Revoked the key {key.label} of {account.username}.")
    return redirect("accounts:service_account", ns=access.organization.name, uuid=account.uuid)
