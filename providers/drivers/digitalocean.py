"""DigitalOcean through its documented REST API v2 (https://docs.digitalocean.com/reference/api/).

Credential: an API `token` (read + write scope). Droplets carry the tag
`dockercloud-node:<node uuid>` (DigitalOcean tags are plain strings), and creation first looks
the tag up, so a retry finds the droplet it already made. `DC_DIGITALOCEAN_API_URL` (a Django
setting, default the public API) points the driver elsewhere (the tests' stand-in server).
"""

from __future__ import annotations

import re

from django.conf import settings

from . import (
    NODE_TAG,
    CredentialField,
    DriverError,
    HostInfo,
    HostState,
    NodeTypeInfo,
    ProviderDriver,
    RegionInfo,
)
from ._http import NotFound, RestClient

API_URL = "https://api.digitalocean.com/v2"
IMAGE = "ubuntu-24-04-x64"
STATES = {
    "new": HostState.PENDING,
    "active": HostState.RUNNING,
    "off": HostState.STOPPED,
    "archive": HostState.TERMINATED,
}


def node_tag(node_uuid: str) -> str:
    return f"{NODE_TAG}:{node_uuid}"


def _tag(key: str, value: str) -> str:
    # Tags allow letters, digits, ':', '-' and '_' (at most 255 characters).
    return re.sub(r"[^A-Za-z0-9:_-]", "_", f"{key}:{value}")[:255]


def _message(body: dict) -> str:
    return body.get("message", "") if isinstance(body, dict) else ""


class DigitalOceanDriver(ProviderDriver):
    name = "digitalocean"
    label = "DigitalOcean"
    fields = (CredentialField("token", "API token", help="A token with read and write scope."),)
    hint_field = "token"
    REGIONS = tuple(
        RegionInfo(slug, label)
        for slug, label in [
            ("nyc1", "New York 1"),
            ("nyc3", "New York 3"),
            ("sfo3", "San Francisco 3"),
            ("tor1", "Toronto 1"),
            ("lon1", "London 1"),
            ("ams3", "Amsterdam 3"),
            ("fra1", "Frankfurt 1"),
            ("blr1", "Bangalore 1"),
            ("sgp1", "Singapore 1"),
            ("syd1", "Sydney 1"),
        ]
    )
    NODE_TYPES = tuple(
        NodeTypeInfo(slug, label, None, cpu, mem, disk)
        for slug, label, cpu, mem, disk in [
            ("s-1vcpu-1gb", "1 GB", 1, 1024, 25),
            ("s-1vcpu-2gb", "2 GB", 1, 2048, 50),
            ("s-2vcpu-2gb", "2 GB, 2 vCPU", 2, 2048, 60),
            ("s-2vcpu-4gb", "4 GB", 2, 4096, 80),
            ("s-4vcpu-8gb", "8 GB", 4, 8192, 160),
            ("s-8vcpu-16gb", "16 GB", 8, 16384, 320),
        ]
    )

    @property
    def _api(self) -> RestClient:
        return RestClient(
            base_url=getattr(settings, "DC_DIGITALOCEAN_API_URL", "") or API_URL,
            token=self.values.get("token", ""),
            label=self.label,
            message_of=_message,
        )

    def _all(self, path: str, key: str, doing: str, params: dict | None = None) -> list[dict]:
        api, items = self._api, []
        url, query = path, {"per_page": 200, **(params or {})}
        while url:
            body = api.request("GET", url, doing=doing, params=query)
            items += body.get(key, [])
            url = ((body.get("links") or {}).get("pages") or {}).get("next")
            query = None  # the next link carries the query
        return items

    def validate(self) -> None:
        body = self._api.request("GET", "/account", doing="check the token")
        status = (body.get("account") or {}).get("status", "active")
        if status not in ("active", "warning"):
            raise DriverError(f"DigitalOcean: the account is {status}.", permanent=True)

    def regions(self) -> list[RegionInfo]:
        found = self._all("/regions", "regions", "list regions")
        return [
            RegionInfo(r["slug"], r.get("name", r["slug"])) for r in found if r.get("available")
        ]

    def node_types(self, region: str | None = None) -> list[NodeTypeInfo]:
        types = []
        for s in self._all("/sizes", "sizes", "list sizes"):
            regions = tuple(s.get("regions") or ())
            if not s.get("available", True) or (region and region not in regions):
                continue
            label = f"{s['memory'] / 1024:g} GB, {s['vcpus']} vCPU"
            types.append(
                NodeTypeInfo(s["slug"], label, regions, s["vcpus"], s["memory"], s.get("disk", 0))
            )
        return types

    def _info(self, droplet: dict) -> HostInfo:
        v4 = (droplet.get("networks") or {}).get("v4") or []
        public = [n["ip_address"] for n in v4 if n.get("type") == "public"]
        private = [n["ip_address"] for n in v4 if n.get("type") == "private"]
        status = droplet.get("status", "")
        return HostInfo(
            id=str(droplet["id"]),
            state=STATES.get(status, HostState.UNKNOWN),
            public_ip=public[0] if public else None,
            private_ips=private,
            provider_state=status,
            tags={t.split(":", 1)[0]: t.split(":", 1)[-1] for t in droplet.get("tags", [])},
        )

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
        existing = self.find_host(node_uuid=node_uuid, region=region)
        if existing is not None:
            return existing
        body = {
            "name": f"dc-{node_uuid}",
            "region": region,
            "size": node_type,
            "image": (options or {}).get("image") or IMAGE,
            "user_data": user_data,
            "tags": [node_tag(node_uuid)] + [_tag(k, v) for k, v in (tags or {}).items()],
        }
        try:
            answer = self._api.request("POST", "/droplets", doing="create the droplet", json=body)
        except DriverError:
            # A create that reached the provider but whose answer was lost (or a name
            # conflict with it) left a tagged host: take it rather than fail.
            again = self.find_host(node_uuid=node_uuid, region=region)
            if again is None:
                raise
            return again
        return self._info(answer["droplet"])

    def find_host(self, *, node_uuid: str, region: str | None = None) -> HostInfo | None:
        found = self._all(
            "/droplets",
            "droplets",
            "look for the node's droplet",
            {"tag_name": node_tag(node_uuid)},
        )
        live = [d for d in found if d.get("status") != "archive"]
        return self._info(min(live, key=lambda d: d["id"])) if live else None

    def get_host(self, host_id: str) -> HostInfo:
        try:
            body = self._api.request("GET", f"/droplets/{int(host_id)}", doing="get the droplet")
        except NotFound:
            return HostInfo(id=host_id, state=HostState.TERMINATED, provider_state="gone")
        except ValueError:
            raise DriverError(f"DigitalOcean: {host_id!r} is not a droplet id.", True) from None
        return self._info(body["droplet"])

    def destroy_host(self, host_id: str) -> None:
        try:
            self._api.request("DELETE", f"/droplets/{int(host_id)}", doing="destroy the droplet")
        except NotFound:
            return
        except ValueError:
            raise DriverError(f"DigitalOcean: {host_id!r} is not a droplet id.", True) from None
