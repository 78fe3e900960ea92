"""Tenant-scoped reads of credentials, and reads of the (global) provider catalog."""

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from accounts.models import Organization
from accounts.permissions import Access, can

from .models import (
    AvailabilityZone,
    Credential,
    CredentialGrant,
    NodeType,
    OrgExternalId,
    Provider,
    Region,
)


def credentials_list(*, organization: Organization) -> QuerySet[Credential]:
    return (
        Credential.objects.filter(organization=organization)
        .select_related("organization__aws_external_id", "created_by")
        .prefetch_related(
            Prefetch("grants", queryset=CredentialGrant.objects.select_related("team"))
        )
    )


def credential_get(*, organization: Organization, uuid) -> Credential:
    credential = credentials_list(organization=organization).filter(uuid=uuid).first()
    if credential is None:
        raise Http404
    return credential


def credential_for_use(*, access: Access, uuid) -> Credential:
    """A credential the caller may deploy with: 404 outside the organization, 403 without `use`.

    `use` does not imply seeing or changing the secret: callers get a driver through
    `services.credential_use`, never the values.
    """
    credential = credential_get(organization=access.organization, uuid=uuid)
    if not can(access, "use", credential):
        raise PermissionDenied
    return credential


def granted_credentials(access: Access) -> frozenset:
    """Uuids of the organization's credentials granted to the caller's teams (the access
    policy's grant source: only `accounts.permissions.can` decides what a grant allows)."""
    return frozenset(
        CredentialGrant.objects.filter(
            credential__organization=access.organization,
            team__organization=access.organization,
            team__members=access.membership.user_id,
        ).values_list("credential__uuid", flat=True)
    )


def credential_by_id(*, credential_id: int) -> Credential | None:
    """For tasks, which receive ids: the row, or None if it is gone."""
    return Credential.objects.select_related("organization").filter(pk=credential_id).first()


def providers_with_credentials(*, organization: Organization) -> set[str]:
    return set(
        Credential.objects.filter(organization=organization)
        .values_list("provider", flat=True)
        .distinct()
    )


def credentials_for_provider(*, organization: Organization, provider: str) -> list[Credential]:
    return list(credentials_list(organization=organization).filter(provider=provider))


def credential_values_for_deploy(*, organization: Organization, uuid) -> dict[str, str]:
    """The values a driver is built with (secrets decrypted): for workers only, never output.

    Includes the organization's external id for drivers that assume roles with it.
    """
    from .drivers import get_driver_class

    credential = credential_get(organization=organization, uuid=uuid)
    values = {**credential.config, **credential.secrets()}
    if get_driver_class(credential.provider).needs_external_id:
        values["external_id"] = external_id_get(organization=organization) or ""
    return values


def _users_of(credential: Credential):
    """Querysets of the rows that refer to the credential by a foreign key (node clusters, and
    any model that comes to), found through its reverse relations: no import of their app."""
    for relation in Credential._meta.related_objects:
        model = relation.field.model  # what `related_model` returns, typed as a class
        if model is CredentialGrant:  # permissions on it, not uses of it
            continue
        yield model, model._default_manager.filter(**{relation.field.name: credential})


def providers_usable(*, organization: Organization) -> set[str]:
    """Providers the organization can deploy on (availability aside): those it has a
    credential for, and those whose driver needs none (the local lab)."""
    from .drivers import driver_names, get_driver_class

    free = {name for name in driver_names() if not get_driver_class(name).fields}
    return free | providers_with_credentials(organization=organization)


def credential_in_use(credential: Credential) -> bool:
    """True while any row of another model refers to the credential (see `_users_of`).

    Such a model may define `credential_released` (a Q) for rows that no longer use their
    credential (a terminated cluster): those do not count.
    """
    for model, rows in _users_of(credential):
        released = getattr(model, "credential_released", None)
        if released is not None:
            rows = rows.exclude(released)
        if rows.exists():
            return True
    return False


def external_id_get(*, organization: Organization) -> str | None:
    row = OrgExternalId.objects.filter(organization=organization).first()
    return row.value if row else None


# -- catalog (not tenant data: the same for everyone; `available` is computed per caller) --


def catalog_is_empty() -> bool:
    return not Provider.objects.exists()


def _listed_regions():
    return Region.objects.filter(listed=True).select_related("provider")


def providers_list() -> QuerySet[Provider]:
    return Provider.objects.filter(listed=True).prefetch_related(
        Prefetch("regions", queryset=_listed_regions().order_by("name"))
    )


def regions_list() -> QuerySet[Region]:
    return _listed_regions().prefetch_related(
        Prefetch("zones", queryset=AvailabilityZone.objects.filter(listed=True)),
        Prefetch(
            "node_types", queryset=NodeType.objects.filter(listed=True).select_related("provider")
        ),
    )


def node_types_list() -> QuerySet[NodeType]:
    return (
        NodeType.objects.filter(listed=True)
        .select_related("provider")
        .prefetch_related(
            Prefetch(
                "regions",
                queryset=_listed_regions().prefetch_related(
                    Prefetch("zones", queryset=AvailabilityZone.objects.filter(listed=True))
                ),
            )
        )
    )


def zones_list() -> QuerySet[AvailabilityZone]:
    return AvailabilityZone.objects.filter(listed=True).select_related("region__provider")
