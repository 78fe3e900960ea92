"""The Docker Cloud catalog: `/api/infra/v1/{provider,region,nodetype,az}/` (never namespaced)."""

import re

from django.http import Http404
from rest_framework import permissions, serializers, viewsets
from rest_framework.response import Response

from accounts.selectors import namespace_access

from .. import selectors, services
from ..models import AvailabilityZone, NodeType, Provider, Region

INFRA = "/api/infra/v1/"

PROVIDER_URI = re.compile(r"^(?:/api/infra/v1/provider/)?([^/]+)/?$")
REGION_URI = re.compile(r"^(?:/api/infra/v1/region/)?([^/]+)/([^/]+)/?$")
AZ_URI = re.compile(r"^(?:/api/infra/v1/az/)?([^/]+)/([^/]+)/([^/]+)/?$")


def provider_uri(name: str) -> str:
    return f"{INFRA}provider/{name}/"


def region_uri(region: Region) -> str:
    return f"{INFRA}region/{region.provider.name}/{region.name}/"


def nodetype_uri(node_type: NodeType) -> str:
    return f"{INFRA}nodetype/{node_type.provider.name}/{node_type.name}/"


def az_uri(zone: AvailabilityZone) -> str:
    region = zone.region
    return f"{INFRA}az/{region.provider.name}/{region.name}/{zone.name}/"


class _Catalog(serializers.Serializer):
    available = serializers.BooleanField(
        help_text="The caller's organization can deploy here (driver usable, credential held)."
    )
    name = serializers.CharField()
    resource_uri = serializers.CharField()


class ProviderSerializer(_Catalog):
    # A field named like `Field.label` only to the type checker: DRF's metaclass moves
    # declared fields off the class (so for the `label`s below too).
    label = serializers.CharField()  # type: ignore[assignment]
    regions = serializers.ListField(child=serializers.CharField())
    unavailable_reason = serializers.CharField()


class RegionSerializer(_Catalog):
    label = serializers.CharField()  # type: ignore[assignment]
    provider = serializers.CharField()
    availability_zones = serializers.ListField(child=serializers.CharField())
    node_types = serializers.ListField(child=serializers.CharField())


class NodeTypeSerializer(_Catalog):
    label = serializers.CharField()  # type: ignore[assignment]
    provider = serializers.CharField()
    regions = serializers.ListField(child=serializers.CharField())
    availability_zones = serializers.ListField(child=serializers.CharField())
    cpu = serializers.IntegerField()
    memory = serializers.IntegerField(help_text="MB")
    disk = serializers.IntegerField(help_text="GB")


class AvailabilityZoneSerializer(_Catalog):
    region = serializers.CharField()


class CatalogViewSet(viewsets.GenericViewSet):
    """Read-only catalog for any authenticated caller. `available` says whether the caller's
    organization (the personal one, or the one an API key is bound to) can deploy there:
    the driver works on this installation and the organization has a credential for it."""

    permission_classes = [permissions.IsAuthenticated]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        services.catalog_ensure()
        try:
            access = namespace_access(request, None)
        except Http404:
            self.org_name, self.usable = None, set()
        else:
            self.org_name = access.organization.name
            self.usable = selectors.providers_usable(organization=access.organization)

    def _available(self, provider: Provider, row_available: bool) -> bool:
        return provider.available and row_available and provider.name in self.usable

    def _reason(self, provider: Provider) -> str:
        if not provider.available:
            return provider.unavailable_reason
        if provider.name not in self.usable:
            return f"No {provider.label} credential in the organization '{self.org_name}'."
        return ""

    def _page(self, rows, body):
        page = self.paginate_queryset(rows) or []  # never None: every list is paginated
        return self.get_paginated_response([body(row) for row in page])

    @staticmethod
    def _match(pattern: re.Pattern, value: str) -> tuple[str, ...] | None:
        found = pattern.match(value)
        return found.groups() if found else None


class ProviderViewSet(CatalogViewSet):
    serializer_class = ProviderSerializer

    def body(self, provider: Provider) -> dict:
        return {
            "available": self._available(provider, True),
            "label": provider.label,
            "name": provider.name,
            "regions": [region_uri(r) for r in provider.regions.all()],
            "resource_uri": provider_uri(provider.name),
            "unavailable_reason": self._reason(provider),
        }

    def list(self, request):
        rows = selectors.providers_list()
        if "name" in request.query_params:
            rows = rows.filter(name=request.query_params["name"])
        return self._page(rows, self.body)

    def retrieve(self, request, name=None):
        provider = selectors.providers_list().filter(name=name).first()
        if provider is None:
            raise Http404
        return Response(self.body(provider))


class RegionViewSet(CatalogViewSet):
    serializer_class = RegionSerializer

    def body(self, region: Region) -> dict:
        return {
            "availability_zones": [az_uri(z) for z in region.zones.all()],
            "available": self._available(region.provider, region.available),
            "label": region.label,
            "name": region.name,
            "node_types": [nodetype_uri(t) for t in region.node_types.all()],
            "provider": provider_uri(region.provider.name),
            "resource_uri": region_uri(region),
        }

    def list(self, request):
        rows, params = selectors.regions_list(), request.query_params
        if "name" in params:
            rows = rows.filter(name=params["name"])
        if "provider" in params:
            found = self._match(PROVIDER_URI, params["provider"])
            rows = rows.filter(provider__name=found[0]) if found else rows.none()
        return self._page(rows, self.body)

    def retrieve(self, request, provider=None, name=None):
        region = selectors.regions_list().filter(provider__name=provider, name=name).first()
        if region is None:
            raise Http404
        return Response(self.body(region))


class NodeTypeViewSet(CatalogViewSet):
    serializer_class = NodeTypeSerializer

    def body(self, node_type: NodeType) -> dict:
        regions = list(node_type.regions.all())
        return {
            "availability_zones": [az_uri(z) for r in regions for z in r.zones.all()],
            "available": self._available(node_type.provider, node_type.available),
            "label": node_type.label,
            "name": node_type.name,
            "provider": provider_uri(node_type.provider.name),
            "regions": [region_uri(r) for r in regions],
            "resource_uri": nodetype_uri(node_type),
            "cpu": node_type.cpu,
            "memory": node_type.memory,
            "disk": node_type.disk,
        }

    def list(self, request):
        rows, params = selectors.node_types_list(), request.query_params
        if "name" in params:
            rows = rows.filter(name=params["name"])
        if "provider" in params:
            found = self._match(PROVIDER_URI, params["provider"])
            rows = rows.filter(provider__name=found[0]) if found else rows.none()
        for key in ("region", "regions"):
            if key in params:
                found = self._match(REGION_URI, params[key])
                if not found:
                    rows = rows.none()
                    continue
                rows = rows.filter(regions__provider__name=found[0], regions__name=found[1])
        if "availability_zones" in params:
            found = self._match(AZ_URI, params["availability_zones"])
            if not found:
                rows = rows.none()
            else:
                rows = rows.filter(
                    regions__provider__name=found[0],
                    regions__name=found[1],
                    regions__zones__name=found[2],
                )
        return self._page(rows.distinct(), self.body)

    def retrieve(self, request, provider=None, name=None):
        node_type = selectors.node_types_list().filter(provider__name=provider, name=name).first()
        if node_type is None:
            raise Http404
        return Response(self.body(node_type))


class AvailabilityZoneViewSet(CatalogViewSet):
    serializer_class = AvailabilityZoneSerializer

    def body(self, zone: AvailabilityZone) -> dict:
        return {
            "available": self._available(zone.region.provider, zone.available),
            "name": zone.name,
            "region": region_uri(zone.region),
            "resource_uri": az_uri(zone),
        }

    def list(self, request):
        rows, params = selectors.zones_list(), request.query_params
        if "name" in params:
            rows = rows.filter(name=params["name"])
        if "region" in params:
            found = self._match(REGION_URI, params["region"])
            if found:
                rows = rows.filter(region__provider__name=found[0], region__name=found[1])
            else:
                rows = rows.none()
        return self._page(rows, self.body)

    def retrieve(self, request, provider=None, region=None, name=None):
        zone = (
            selectors.zones_list()
            .filter(region__provider__name=provider, region__name=region, name=name)
            .first()
        )
        if zone is None:
            raise Http404
        return Response(self.body(zone))
