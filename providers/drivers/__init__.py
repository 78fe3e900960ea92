"""Provider drivers: one interface, one module per provider, imported lazily by name.

A driver is built with a credential's field values (or none, for the built-in catalog) and
talks to its provider's API. Every failure is a `DriverError` whose message is safe to show
to the user (never a secret) and whose `permanent` flag tells tasks whether to retry.

Idempotent creation: `create_host` tags the host with the node's uuid and first looks for a
host already carrying that tag, so a retry after a crash finds the host instead of making a
second one.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field

from django.utils.module_loading import import_string

from .options import ProviderOption, options_clean

REGISTRY = {
    "local": "providers.drivers.local.LocalDriver",
    "aws": "providers.drivers.aws.AwsDriver",
    "digitalocean": "providers.drivers.digitalocean.DigitalOceanDriver",
    "hetzner": "providers.drivers.hetzner.HetznerDriver",
}
NODE_TAG = "dockercloud-node"  # the tag (label) holding the node uuid on every host


class DriverError(Exception):
    """A provider call failed. `permanent`: retrying the same call will not help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class CredentialField:
    """One field of a provider's credential; `secret` fields are encrypted and never shown."""

    name: str
    label: str
    secret: bool = True
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class RegionInfo:
    name: str
    label: str
    availability_zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeTypeInfo:
    name: str
    label: str
    regions: tuple[str, ...] | None = None  # None: offered in every region
    cpu: int = 0
    memory: int = 0  # MB
    disk: int = 0  # GB


@dataclass(frozen=True)
class Catalog:
    regions: tuple[RegionInfo, ...]
    node_types: tuple[NodeTypeInfo, ...]


class HostState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATED = "terminated"  # also: not found
    UNKNOWN = "unknown"


@dataclass
class HostInfo:
    """A provider host. `id` is opaque and enough for `get_host`/`destroy_host`."""

    id: str
    state: HostState
    public_ip: str | None = None
    private_ips: list[str] = field(default_factory=list)
    provider_state: str = ""  # the provider's own word, for logs
    tags: dict[str, str] = field(default_factory=dict)


class ProviderDriver:
    """The interface every provider driver implements.

    Subclasses set `name`, `label`, `fields`, the built-in catalog (`REGIONS`, `NODE_TYPES`:
    what `catalog()` returns without calling the provider) and implement the methods below.
    """

    name: str = ""
    label: str = ""
    fields: tuple[CredentialField, ...] = ()
    hint_field: str | None = None  # the field whose last 4 characters may be shown
    needs_external_id: bool = False  # the organization's external id is added to its values
    # The `provider_options` keys `create_host` passes to the provider, and their free values.
    options: tuple[ProviderOption, ...] = ()
    REGIONS: tuple[RegionInfo, ...] = ()
    NODE_TYPES: tuple[NodeTypeInfo, ...] = ()

    def __init__(self, values: dict[str, str] | None = None):
        self.values = dict(values or {})

    # -- class level: catalog and availability ---------------------------------------------

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(usable on this installation, reason when not)."""
        return True, ""

    @classmethod
    def catalog(cls) -> Catalog:
        """Regions and node types offered, without calling the provider (catalog refresh)."""
        return Catalog(regions=cls.REGIONS, node_types=cls.NODE_TYPES)

    @classmethod
    def clean(cls, values: dict[str, str]) -> dict[str, str]:
        """Check field names and required fields; return the values to store.

        Raises DriverError(permanent=True) with a message naming the field.
        """
        known = {f.name for f in cls.fields}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DriverError(f"Unknown field(s) for {cls.label}: {', '.join(unknown)}.", True)
        missing = [f.name for f in cls.fields if f.required and not values.get(f.name)]
        if missing:
            raise DriverError(f"Required for {cls.label}: {', '.join(missing)}.", True)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    @classmethod
    def clean_options(cls, raw) -> dict[str, str | list[str]]:
        """`provider_options` checked against `options`, flattened to dotted paths.

        Raises OptionError naming the key (and the accepted keys, for an unknown one).
        """
        return options_clean(cls.options, raw)

    @classmethod
    def require_available(cls) -> None:
        ok, reason = cls.availability()
        if not ok:
            raise DriverError(reason, permanent=True)

    @classmethod
    def boot_base(cls, base: str) -> str:
        """Where hosts this provider boots reach the control plane, given where it is served
        (`base`, DC_PUBLIC_URL or the request's address)."""
        return base

    # -- with credentials ------------------------------------------------------------------

    def validate(self) -> None:
        """A cheap authenticated call; DriverError (with the provider's message) if refused."""
        raise NotImplementedError

    def regions(self) -> list[RegionInfo]:
        """Regions offered to this account (a live call)."""
        raise NotImplementedError

    def node_types(self, region: str | None = None) -> list[NodeTypeInfo]:
        """Node types offered to this account (a live call), in `region` when given."""
        raise NotImplementedError

    def availability_zones(self, region: str) -> list[str]:
        return []

    def create_host(
        self,
        *,
        node_uuid: str,
        region: str,
        node_type: str,
        user_data: str,
        tags: dict[str, str] | None = None,
        availability_zone: str | None = None,
        disk: int | None = None,
        options: dict | None = None,
    ) -> HostInfo:
        """Create a host booting with `user_data`, tagged with `node_uuid`; idempotent.

        `options` holds only keys declared in `options` (checked when the cluster was made).
        """
        raise NotImplementedError

    def find_host(self, *, node_uuid: str, region: str | None = None) -> HostInfo | None:
        """The live host tagged with `node_uuid`, if any."""
        raise NotImplementedError

    def get_host(self, host_id: str) -> HostInfo:
        """State and addresses; state TERMINATED when the host is gone."""
        raise NotImplementedError

    def destroy_host(self, host_id: str) -> None:
        """Destroy the host; a host already gone is success."""
        raise NotImplementedError


def driver_names() -> list[str]:
    return list(REGISTRY)


@functools.cache
def get_driver_class(name: str) -> type[ProviderDriver]:
    try:
        path = REGISTRY[name]
    except KeyError:
        raise DriverError(f"Unknown provider {name!r}.", permanent=True) from None
    return import_string(path)


def get_driver(name: str, values: dict[str, str] | None = None) -> ProviderDriver:
    return get_driver_class(name)(values)
