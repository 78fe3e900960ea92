"""The bridge from node clusters to provider drivers and credentials (providers/)."""

import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError

from accounts.permissions import Access, can

from .models import NodeCluster

REGION_URI = re.compile(r"^/api/infra/v1/region/(?P<provider>[^/]+)/(?P<name>[^/]+)/?$")
NODETYPE_URI = re.compile(r"^/api/infra/v1/nodetype/(?P<provider>[^/]+)/(?P<name>[^/]+)/?$")


@dataclass(frozen=True)
class Placement:
    provider: str
    region: str
    node_type: str


def parse_placement(region_uri, node_type_uri) -> Placement:
    """Check a region and node type URI against the driver's catalog (same provider)."""
    from providers.drivers import DriverError, get_driver_class

    errors = {}
    region = REGION_URI.match(region_uri or "") if isinstance(region_uri, str) else None
    ntype = NODETYPE_URI.match(node_type_uri or "") if isinstance(node_type_uri, str) else None
    if region is None:
        errors["region"] = ["Give a region URI like /api/infra/v1/region/<provider>/<name>/."]
    if ntype is None:
        errors["node_type"] = [
            "Give a node type URI like /api/infra/v1/nodetype/<provider>/<name>/."
        ]
    if region is None or ntype is None:  # each has its message in `errors`
        raise ValidationError(errors)
    provider = region["provider"]
    if ntype["provider"] != provider:
        raise ValidationError(
            {"node_type": ["The node type and the region are of different providers."]}
        )
    try:
        catalog = get_driver_class(provider).catalog()
    except DriverError as exc:
        raise ValidationError({"region": [exc.message]}) from None
    regions = {r.name for r in catalog.regions}
    if region["name"] not in regions:
        raise ValidationError({"region": [f"{provider} has no region {region['name']!r}."]})
    types = {t.name: t for t in catalog.node_types}
    info = types.get(ntype["name"])
    if info is None:
        raise ValidationError({"node_type": [f"{provider} has no node type {ntype['name']!r}."]})
    if info.regions is not None and region["name"] not in info.regions:
        raise ValidationError(
            {"node_type": [f"{ntype['name']} is not offered in {region['name']}."]}
        )
    return Placement(provider=provider, region=region["name"], node_type=ntype["name"])


def credential_for_cluster(*, access: Access, provider: str, credential_uuid=None):
    """The credential a new cluster deploys with (the caller must be allowed to use it).

    Returns None for providers that need none (the local lab).
    """
    from providers import selectors as provider_selectors
    from providers.drivers import get_driver_class

    if not get_driver_class(provider).fields:
        if not can(access, "use"):  # a credential grant is no licence for other providers
            raise PermissionDenied
        return None
    if credential_uuid:
        credential = provider_selectors.credential_for_use(access=access, uuid=credential_uuid)
        if credential.provider != provider:  # its allowed options are another driver's too
            raise ValidationError(
                {"credential": [f"This is a {credential.provider} credential, not {provider}."]}
            )
        return credential
    found = provider_selectors.credentials_for_provider(
        organization=access.organization, provider=provider
    )
    if len(found) != 1:
        problem = "no credential" if not found else "several credentials"
        raise ValidationError(
            {"credential": [f"This organization has {problem} for {provider}: name one by uuid."]}
        )
    if not can(access, "use", found[0]):
        raise PermissionDenied
    return found[0]


def record_credential_use(*, actor, cluster: NodeCluster, purpose: str) -> None:
    """Audit a deploy with the cluster's credential (`credential.use`); refuse clearly when
    its provider cannot be used on this installation."""
    from providers import services as provider_services

    credential = cluster.credential
    if credential is None:
        return
    provider_services.credential_use(actor=actor, credential=credential, purpose=purpose)


def driver_for_cluster(cluster: NodeCluster):
    """A driver with the cluster's credential values (decrypted only here, in the worker)."""
    from providers import selectors as provider_selectors
    from providers.drivers import get_driver

    values = {}
    credential = cluster.credential
    if credential is not None:
        values = provider_selectors.credential_values_for_deploy(
            organization=cluster.organization, uuid=credential.uuid
        )
    return get_driver(cluster.provider, values)
