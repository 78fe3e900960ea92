"""Writes on credentials (validated by their driver before anything is stored) and the catalog.

Secrets never leave this module except inside a driver: audit rows name the fields that
changed, never their values, and driver messages are scrubbed of the values just in case.
"""

import logging
import secrets as pysecrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.models import Organization, Team

from . import selectors
from .crypto import org_encrypt_json
from .drivers import DriverError, ProviderDriver, driver_names, get_driver_class
from .models import (
    AvailabilityZone,
    Credential,
    CredentialGrant,
    NodeType,
    OrgExternalId,
    Provider,
    Region,
)

log = logging.getLogger(__name__)
PLACEHOLDER = "$encrypted$"  # what the API shows for a stored secret; sent back, it keeps it
HINT_MIN_LENGTH = 12  # shorter secrets get no hint: 4 characters would be too much of them


class CredentialInUse(Exception):
    """The credential is still used (by a node cluster) and cannot be deleted."""


def _driver_class(provider: str) -> type[ProviderDriver]:
    if provider not in driver_names():
        choices = ", ".join(driver_names())
        raise ValidationError({"provider": [f"Unknown provider '{provider}'; one of: {choices}."]})
    return get_driver_class(provider)


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": ["A name of 1 to 100 characters is required."]})
    return name


def _scrub(message: str, values: dict) -> str:
    for value in values.values():
        if value and len(value) >= 4:
            message = message.replace(value, "****")
    return message


def _hint(cls: type[ProviderDriver], values: dict) -> str:
    value = values.get(cls.hint_field or "", "")
    return value[-4:] if len(value) >= HINT_MIN_LENGTH else ""


def external_id_ensure(*, organization: Organization) -> str:
    """The organization's AWS external id, made on first use (random, unique, not secret)."""
    existing = selectors.external_id_get(organization=organization)
    if existing:
        return existing
    try:
        with transaction.atomic():
            row = OrgExternalId.objects.create(
                organization=organization, value=f"dc-{pysecrets.token_hex(16)}"
            )
    except IntegrityError:  # made concurrently: use the winner's
        winner = selectors.external_id_get(organization=organization)
        if winner is None:  # not a concurrent create after all
            raise
        return winner
    return row.value


def _driver(cls: type[ProviderDriver], organization: Organization, values: dict):
    if cls.needs_external_id:
        values = {**values, "external_id": external_id_ensure(organization=organization)}
    return cls(values)


def _clean_and_validate(cls, organization: Organization, values: dict) -> dict:
    """The values to store, once the driver accepted them with a real call (or a 400)."""
    try:
        values = cls.clean(values)
        cls.require_available()
        _driver(cls, organization, values).validate()
    except DriverError as exc:
        message = _scrub(exc.message, values)
        log.info("credential for %s refused by %s: %s", organization, cls.name, message)
        raise ValidationError({"fields": [message]}) from None
    return values


def _split(cls: type[ProviderDriver], values: dict) -> tuple[dict, dict]:
    secret_names = {f.name for f in cls.fields if f.secret}
    secret = {k: v for k, v in values.items() if k in secret_names}
    config = {k: v for k, v in values.items() if k not in secret_names}
    return secret, config


def _check_name_free(organization: Organization, name: str, exclude: int | None = None) -> None:
    taken = selectors.credentials_list(organization=organization).filter(name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError({"name": [f"A credential named '{name}' already exists."]})


def credential_create(
    *, actor: Actor, organization: Organization, provider: str, name: str, fields: dict
) -> Credential:
    """Validate with the provider, then store (encrypted). Nothing is stored on failure."""
    cls = _driver_class(provider)
    if not cls.fields:
        raise ValidationError({"provider": [f"{cls.label} needs no credential."]})
    name = _clean_name(name)
    _check_name_free(organization, name)
    values = _clean_and_validate(cls, organization, dict(fields or {}))
    secret, config = _split(cls, values)
    try:
        with transaction.atomic():
            credential = Credential.objects.create(
                organization=organization,
                provider=provider,
                name=name,
                secret_encrypted=org_encrypt_json(organization, secret),
                secret_fields=sorted(secret),
                config=config,
                hint=_hint(cls, values),
                created_by=actor.user,
                validated_at=timezone.now(),
            )
            audit_record(
                actor=actor,
                action="credential.create",
                organization=organization,
                obj=credential,
                data={"provider": provider, "fields": sorted(values)},
            )
    except IntegrityError:  # a concurrent create took the name
        raise ValidationError({"name": [f"A credential named '{name}' already exists."]}) from None
    return credential


def _merge(current: dict, changes: dict) -> tuple[dict, list[str]]:
    """Apply `changes`: the placeholder keeps a value, "" or None removes it."""
    merged, changed = dict(current), []
    for key, value in changes.items():
        if value == PLACEHOLDER:
            if key not in current:
                raise ValidationError({"fields": [f"{key}: nothing is stored to keep."]})
            continue
        if value in ("", None):
            if key in merged:
                del merged[key]
                changed.append(key)
            continue
        if merged.get(key) != str(value):
            merged[key] = str(value)
            changed.append(key)
    return merged, sorted(changed)


def credential_update(
    *, actor: Actor, credential: Credential, name: str | None = None, fields: dict | None = None
) -> Credential:
    """Rename and/or change fields; changed fields are validated with the provider first."""
    cls = _driver_class(credential.provider)
    organization = credential.organization
    update: list[str] = []
    data: dict[str, object] = {}
    if name is not None:
        name = _clean_name(name)
        _check_name_free(organization, name, exclude=credential.pk)
        if name != credential.name:
            credential.name, data["name"] = name, name
            update.append("name")
    if fields:
        current = {**credential.secrets(), **credential.config}
        values, changed = _merge(current, fields)
        if changed:
            values = _clean_and_validate(cls, organization, values)
            secret, config = _split(cls, values)
            credential.secret_encrypted = org_encrypt_json(organization, secret)
            credential.secret_fields = sorted(secret)
            credential.config = config
            credential.hint = _hint(cls, values)
            credential.validated_at = timezone.now()
            update += ["secret_encrypted", "secret_fields", "config", "hint", "validated_at"]
            data["fields"] = changed
    if not update:
        return credential
    credential.updated = timezone.now()
    try:
        with transaction.atomic():
            credential.save(update_fields=[*update, "updated"])
            audit_record(
                actor=actor,
                action="credential.update",
                organization=organization,
                obj=credential,
                data=data,
            )
    except IntegrityError:
        raise ValidationError({"name": [f"A credential named '{name}' already exists."]}) from None
    return credential


def teams_for_grant(*, organization: Organization, teams: list[str]) -> dict[str, Team]:
    """The organization's teams by name; a name it has no team for is a 400."""
    names = {str(t).strip() for t in teams if str(t).strip()}
    found = {t.name: t for t in Team.objects.filter(organization=organization, name__in=names)}
    unknown = sorted(names - set(found))
    if unknown:
        raise ValidationError(
            {"use_teams": [f"No team named '{n}' in this organization." for n in unknown]}
        )
    return found


@transaction.atomic
def credential_grants_set(*, actor: Actor, credential: Credential, teams: list[str]) -> list[str]:
    """Make `teams` (names, of the credential's organization) exactly the teams that may use
    the credential. Returns the sorted names; unknown names are a 400 and change nothing."""
    found = teams_for_grant(organization=credential.organization, teams=teams)
    names = sorted(found)
    current = {g.team.name: g for g in credential.grants.select_related("team")}
    removed = sorted(set(current) - set(names))
    added = sorted(set(names) - set(current))
    if not removed and not added:
        return names
    credential.grants.filter(team__name__in=removed).delete()
    CredentialGrant.objects.bulk_create(
        [CredentialGrant(credential=credential, team=found[n]) for n in added]
    )
    audit_record(
        actor=actor,
        action="credential.grant",
        organization=credential.organization,
        obj=credential,
        data={"use_teams": names, "added": added, "removed": removed},
    )
    return names


@transaction.atomic
def credential_delete(*, actor: Actor, credential: Credential) -> None:
    if selectors.credential_in_use(credential):
        raise CredentialInUse(
            f"The credential '{credential.name}' is used by a node cluster: terminate the "
            "cluster (or move it to another credential) before deleting it."
        )
    audit_record(
        actor=actor,
        action="credential.delete",
        organization=credential.organization,
        obj=credential,
        data={"provider": credential.provider},
    )
    credential.delete()


def driver_for(credential: Credential) -> ProviderDriver:
    """The credential's driver, secrets loaded (for workers acting on an authorized deploy)."""
    cls = get_driver_class(credential.provider)
    return _driver(cls, credential.organization, {**credential.config, **credential.secrets()})


def credential_use(*, actor: Actor, credential: Credential, purpose: str = "") -> ProviderDriver:
    """Deploy with a credential (the caller checked `use`, see selectors.credential_usable).

    Returns its driver, so the caller can act without ever holding the values; audited. A
    provider unavailable on this installation is a clear ValidationError.
    """
    driver = driver_for(credential)
    ok, reason = driver.availability()
    if not ok:
        raise ValidationError({"credential": [reason]})
    audit_record(
        actor=actor,
        action="credential.use",
        organization=credential.organization,
        obj=credential,
        data={"provider": credential.provider, "purpose": purpose[:200]},
    )
    return driver


# -- catalog -------------------------------------------------------------------------------


def _upsert(model, lookup: dict, values: dict):
    row, _ = model.objects.update_or_create(**lookup, defaults={**values, "listed": True})
    return row


@transaction.atomic
def _refresh_provider(name: str) -> dict[str, int]:
    cls = get_driver_class(name)
    ok, reason = cls.availability()
    catalog = cls.catalog()
    provider = _upsert(
        Provider,
        {"name": name},
        {
            "label": cls.label,
            "available": ok,
            "unavailable_reason": reason[:300],
            "refreshed": timezone.now(),
        },
    )
    regions, zone_ids = {}, []
    for region_info in catalog.regions:
        region = _upsert(
            Region,
            {"provider": provider, "name": region_info.name},
            {"label": region_info.label, "available": ok},
        )
        regions[region_info.name] = region
        for zone in region_info.availability_zones:
            zone_ids.append(
                _upsert(AvailabilityZone, {"region": region, "name": zone}, {"available": ok}).pk
            )
    type_ids = []
    for info in catalog.node_types:
        node_type = _upsert(
            NodeType,
            {"provider": provider, "name": info.name},
            {
                "label": info.label,
                "cpu": info.cpu,
                "memory": info.memory,
                "disk": info.disk,
                "available": ok,
            },
        )
        names = regions if info.regions is None else [r for r in info.regions if r in regions]
        node_type.regions.set([regions[r] for r in names])
        type_ids.append(node_type.pk)
    region_ids = [r.pk for r in regions.values()]
    Region.objects.filter(provider=provider).exclude(pk__in=region_ids).update(listed=False)
    AvailabilityZone.objects.filter(region__provider=provider).exclude(pk__in=zone_ids).update(
        listed=False
    )
    NodeType.objects.filter(provider=provider).exclude(pk__in=type_ids).update(listed=False)
    return {"regions": len(regions), "node_types": len(type_ids), "zones": len(zone_ids)}


def catalog_refresh() -> dict[str, dict[str, int]]:
    """Rebuild the catalog from the drivers: new drivers, regions and sizes appear, gone ones
    are unlisted (kept, as clusters may still name them), availability is re-checked."""
    counts = {}
    for name in driver_names():
        try:
            counts[name] = _refresh_provider(name)
        except Exception:  # noqa: BLE001 (one broken driver must not hide the others)
            log.exception("catalog refresh of %s failed", name)
    Provider.objects.exclude(name__in=driver_names()).update(listed=False, available=False)
    return counts


def catalog_ensure() -> None:
    """Fill the catalog on first use, so it is never empty (the beat task keeps it fresh)."""
    if selectors.catalog_is_empty():
        catalog_refresh()


def aws_trust_principal() -> str | None:
    """The control plane's AWS identity for trust policies (cached: it is an STS call)."""
    from django.core.cache import cache

    from .drivers.aws import platform_principal

    cached = cache.get(PRINCIPAL_CACHE_KEY)
    if cached is None:
        cached = platform_principal() or ""
        cache.set(PRINCIPAL_CACHE_KEY, cached, 600)
    return cached or None


PRINCIPAL_CACHE_KEY = "providers:aws-principal"
