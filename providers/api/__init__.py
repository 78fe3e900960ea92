"""Credentials (our own API) and the Docker Cloud catalog: one module each."""

from .catalog import (
    AvailabilityZoneViewSet,
    CatalogViewSet,
    NodeTypeViewSet,
    ProviderViewSet,
    RegionViewSet,
)
from .credentials import CredentialViewSet, credential_body

__all__ = [
    "AvailabilityZoneViewSet",
    "CatalogViewSet",
    "CredentialViewSet",
    "NodeTypeViewSet",
    "ProviderViewSet",
    "RegionViewSet",
    "credential_body",
]
