"""Who may choose which provider options: the one place the `customize` verb is checked.

A node cluster's `provider_options` reach the provider's create call for every host it makes.
Each driver declares the keys it passes on and their free values (the vetted defaults, see
`drivers.options`); any other value picks a custom image, network, firewall or instance role
and needs `customize` (the organization's admins), unless an admin allowed that value on the
credential (`Credential.allowed_options`): any user of the credential, a team granted its `use`
included, may then choose it. Everything that accepts provider options (cluster create, from
the API and the portal) goes through `provider_options_check`.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.permissions import Access, can

from .drivers import get_driver_class
from .drivers.options import OptionError, options_nest
from .models import Credential

MAX_ALLOWED_VALUES = 50  # per option, on one credential


def provider_options_check(
    *, access: Access, provider: str, credential: Credential | None, options
) -> dict:
    """The options to store on a new cluster of `provider` deploying with `credential`.

    A malformed or unknown option is a ValidationError naming it; a value that is neither
    free nor allowed on the credential is PermissionDenied unless the caller may `customize`.
    """
    cls = get_driver_class(provider)
    try:
        chosen = cls.clean_options(options)
    except OptionError as exc:
        raise ValidationError({"provider_options": [str(exc)]}) from None
    allowed = (
        credential.allowed_options
        if credential is not None and credential.provider == provider
        else {}
    )
    specs = {o.path: o for o in cls.options}
    custom = sorted(
        path
        for path, value in chosen.items()
        if any(
            v not in specs[path].free and v not in allowed.get(path, ())
            for v in specs[path].values(value)
        )
    )
    if custom and not can(access, "customize"):
        raise PermissionDenied(
            f"Only organization admins choose provider_options {', '.join(custom)} "
            "(other users get the defaults, or values an admin allowed on the credential)."
        )
    return options_nest(chosen)


def allowed_options_clean(*, access: Access, provider: str, allowed) -> dict[str, list[str]]:
    """An allow-list for a credential of `provider`: {option path: [values]}, admins only."""
    if not can(access, "customize"):
        raise PermissionDenied(
            "Only organization admins choose the provider options users of a credential may pick."
        )
    cls = get_driver_class(provider)
    specs = {o.path: o for o in cls.options}
    if not isinstance(allowed, dict):
        raise ValidationError({"allowed_options": ["Expected a JSON object."]})
    cleaned, errors = {}, []
    for path, values in allowed.items():
        spec = specs.get(path)
        if spec is None:
            accepted = ", ".join(specs) or "none"
            errors.append(f"Unknown option {str(path)[:64]!r}; {cls.label} accepts: {accepted}.")
            continue
        if not isinstance(values, list) or len(values) > MAX_ALLOWED_VALUES:
            errors.append(f"{path}: give a list of at most {MAX_ALLOWED_VALUES} values.")
            continue
        try:
            checked = [spec.check_value(v) for v in values]
        except OptionError as exc:
            errors.append(str(exc))
            continue
        if checked:
            cleaned[path] = sorted(set(checked))
    if errors:
        raise ValidationError({"allowed_options": errors})
    return dict(sorted(cleaned.items()))


@transaction.atomic
def credential_allowed_options_set(
    *, actor: Actor, access: Access, credential: Credential, allowed
) -> dict[str, list[str]]:
    """Replace the values any user of `credential` may choose beyond the defaults (audited)."""
    cleaned = allowed_options_clean(access=access, provider=credential.provider, allowed=allowed)
    if cleaned == credential.allowed_options:
        return cleaned
    credential.allowed_options = cleaned
    credential.updated = timezone.now()
    credential.save(update_fields=["allowed_options", "updated"])
    audit_record(
        actor=actor,
        action="credential.allow_options",
        organization=credential.organization,
        obj=credential,
        data={"allowed_options": cleaned},
    )
    return cleaned
