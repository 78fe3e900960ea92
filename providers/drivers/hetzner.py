"""Hetzner Cloud through its documented REST API v1 (https://docs.hetzner.cloud/).

Credential: a project API `token` (read & write). Regions are Hetzner's locations, node types
its server types. Servers carry the label `dockercloud-node=<node uuid>`, and creation first
looks it up with a label selector, so a retry finds the server it already made.
`DC_HETZNER_API_URL` (a Django setting, default the public API) points the driver elsewhere
(the tests' stand-in server).
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

API_URL = "https://api.hetzner.cloud/v1"
IMAGE = "ubuntu-24.04"
STATES = {
    "initializing": HostState.PENDING,
    "starting": HostState.PENDING,
    "running": HostState.RUNNING,
    "stopping": HostState.STOPPED,
    "off": HostState.STOPPED,
    "deleting": HostState.TERMINATED,
    "migrating": HostState.RUNNING,
    "rebuilding": HostState.PENDING,
}
EU = ("fsn1", "nbg1", "hel1")
ALL = EU + ("ash", "hil", "sin")


def _label(value: str) -> str:
    # Label values: at most 63 of letters, digits, '-', '_', '.'; start and end alphanumeric.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(value))[:63].strip("_.-")


def _message(body: dict) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("message", "") if isinstance(error, dict) else ""


class HetznerDriver(ProviderDriver):
    name = "hetzner"
    label = "Hetzner Cloud"
    fields = (CredentialField("token", "API token", help="A project token with read & write."),)
    hint_field = "token"
    REGIONS = tuple(
        RegionInfo(name, label)
        for name, label in [
            ("fsn1", "Falkenstein"),
            ("nbg1", "Nuremberg"),
            ("hel1", "Helsinki"),
            ("ash", "Ashburn, VA"),
            ("hil", "Hillsboro, OR"),
            ("sin", "Singapore"),
        ]
    )
    NODE_TYPES = tuple(
        NodeTypeInfo(
            name, f"{name.upper()} ({cpu} vCPU, {mem // 1024} GB)", regions, cpu, mem, disk
        )
        for name, cpu, mem, disk, regions in [
            ("cx22", 2, 4096, 40, EU),
            ("cx32", 4, 8192, 80, EU),
            ("cx42", 8, 16384, 160, EU),
            ("cpx11", 2, 2048, 40, ALL),
            ("cpx21", 3, 4096, 80, ALL),
            ("cpx31", 4, 8192, 160, ALL),
            ("cpx41", 8, 16384, 240, ALL),
        ]
    )

    @property
    def _api(self) -> RestClient:
        return RestClient(
            base_url=getattr(settings, "DC_HETZNER_API_URL", "") or API_URL,
            token=self.values.get("token", ""),
            label=self.label,
            message_of=_message,
        )

    def _all(self, path: str, key: str, doing: str, params: dict | None = None) -> list[dict]:
        api, items, page = self._api, [], 1
        while page:
            query = {"per_page": 50, "page": page, **(params or {})}
            body = api.request("GET", path, doing=doing, params=query)
            items += body.get(key, [])
            page = ((body.get("meta") or {}).get("pagination") or {}).get("next_page")
        return items

    def validate(self) -> None:
        self._api.request("GET", "/servers", doing="check the token", params={"per_page": 1})

    def regions(self) -> list[RegionInfo]:
        found = self._all("/locations", "locations", "list locations")
        return [RegionInfo(loc["name"], loc.get("city") or loc["name"]) for loc in found]

    def node_types(self, region: str | None = None) -> list[NodeTypeInfo]:
        types = []
        for t in self._all("/server_types", "server_types", "list server types"):
            regions = tuple(p["location"] for p in t.get("prices", []) if p.get("location"))
            if t.get("deprecated") or (region and region not in regions):
                continue
            memory = int(float(t.get("memory", 0)) * 1024)
            label = f"{t['name'].upper()} ({t['cores']} vCPU, {t.get('memory', 0):g} GB)"
            types.append(
                NodeTypeInfo(t["name"], label, regions, t["cores"], memory, t.get("disk", 0))
            )
        return types

    def _info(self, server: dict) -> HostInfo:
        public_net = server.get("public_net") or {}
        ipv4 = (public_net.get("ipv4") or {}).get("ip")
        private = [n["ip"] for n in server.get("private_net") or [] if n.get("ip")]
        status = server.get("status", "")
        return HostInfo(
            id=str(server["id"]),
            state=STATES.get(status, HostState.UNKNOWN),
            public_ip=ipv4,
            private_ips=private,
            provider_state=status,
            tags=dict(server.get("labels") or {}),
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
        labels = {_label(k): _label(v) for k, v in (tags or {}).items()}
        labels[NODE_TAG] = str(node_uuid)
        body = {
            "name": f"dc-{node_uuid}",
            "server_type": node_type,
            "image": (options or {}).get("image") or IMAGE,
            "location": region,
            "user_data": user_data,
            "labels": labels,
            "start_after_create": True,
        }
        try:
            answer = self._api.request("POST", "/servers", doing="create the server", json=body)
        except DriverError:
            # A create that reached the provider but whose answer was lost (or a name
            # conflict with it) left a tagged host: take it rather than fail.
            again = self.find_host(node_uuid=node_uuid, region=region)
            if again is None:
                raise
            return again
        return self._info(answer["server"])

    def find_host(self, *, node_uuid: str, region: str | None = None) -> HostInfo | None:
        found = self._all(
            "/servers",
            "servers",
            "look for the node's server",
            {"label_selector": f"{NODE_TAG}=={node_uuid}"},
        )
        live = [s for s in found if s.get("status") != "deleting"]
        return self._info(min(live, key=lambda s: s["id"])) if live else None

    def get_host(self, host_id: str) -> HostInfo:
        try:
            body = self._api.request("GET", f"/servers/{int(host_id)}", doing="get the server")
        except NotFound:
            return HostInfo(id=host_id, state=HostState.TERMINATED, provider_state="gone")
        except ValueError:
            raise DriverError(f"Hetzner Cloud: {host_id!r} is not a server id.", True) from None
        return self._info(body["server"])

    def destroy_host(self, host_id: str) -> None:
        try:
            self._api.request("DELETE", f"/servers/{int(host_id)}", doing="delete the server")
        except NotFound:
            return
        except ValueError:
            raise DriverError(f"Hetzner Cloud: {host_id!r} is not a server id.", True) from None
