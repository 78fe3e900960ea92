"""Hetzner Cloud through hcloud, its official client (https://docs.hetzner.cloud/).

Credential: a project API `token` (read & write). Regions are Hetzner's locations, node types
its server types. Servers carry the label `dockercloud-node=<node uuid>`, and creation first
looks it up with a label selector, so a retry finds the server it already made.
`DC_HETZNER_API_URL` (a Django setting, default the public API) points the driver elsewhere
(the tests' stand-in server).

hcloud retries 502/504 answers, timeouts and some error codes up to 5 times, with jittered
backoff of up to a minute, and has no public switch for it: the driver turns it off (the tasks
calling the driver retry transient errors with their own backoff). The driver never waits on
Hetzner's actions (it polls the server's status instead), so hcloud's poll settings do not
apply.
"""

from __future__ import annotations

import re
from functools import cached_property

import hcloud
import requests
from django.conf import settings
from hcloud import APIException, HCloudException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType
from hcloud.servers import BoundServer, Server

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
from ._http import CONNECT_TIMEOUT, READ_TIMEOUT, no_answer, status_error
from ._idempotent import create_once
from .options import ProviderOption

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


class HetznerDriver(ProviderDriver):
    name = "hetzner"
    label = "Hetzner Cloud"
    fields = (CredentialField("token", "API token", help="A project token with read & write."),)
    hint_field = "token"
    # What create_host passes to the server create: only the image (a name, or the id of a
    # snapshot); the default one is free.
    options = (
        ProviderOption(
            "image", r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "an image name or id", free=(IMAGE,)
        ),
    )
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

    _last_status: int | None = None

    @cached_property
    def _client(self) -> hcloud.Client:
        client = hcloud.Client(
            token=self.values.get("token", ""),
            api_endpoint=getattr(settings, "DC_HETZNER_API_URL", "") or API_URL,
            application_name="dockercloud",
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        )
        # Private attributes, for want of public ones (tests/providers check both work):
        # no retries, and the HTTP status of each answer, which hcloud's APIException lacks
        # (it has the API's error code). Like hcloud's requests.Session, a driver is not
        # shared between threads.
        client._client._retry_max_retries = 0
        client._client._session.hooks["response"].append(self._remember_status)
        return client

    def _remember_status(self, response: requests.Response, *args, **kwargs) -> None:
        self._last_status = response.status_code

    def _call(self, doing: str, func, *args, gone_ok: bool = False, **kwargs):
        """`func(...)`'s result; None for a 404 when `gone_ok`; else a DriverError."""
        self._last_status = None
        try:
            return func(*args, **kwargs)
        except APIException as exc:
            status = self._last_status or (exc.code if isinstance(exc.code, int) else 0)
            if gone_ok and status == 404:
                return None
            message = exc.message or str(exc.code)
            raise status_error(self.label, doing, message, status) from None
        except (HCloudException, requests.RequestException, ValueError) as exc:
            raise no_answer(self.label, doing, exc) from None

    def validate(self) -> None:
        self._call("check the token", self._client.servers.get_list, per_page=1)

    def regions(self) -> list[RegionInfo]:
        found = self._call("list locations", self._client.locations.get_all)
        return [RegionInfo(loc.name, loc.city or loc.name) for loc in found]

    def node_types(self, region: str | None = None) -> list[NodeTypeInfo]:
        types = []
        for t in self._call("list server types", self._client.server_types.get_all):
            # Offered where listed without a deprecation (Hetzner deprecates per location).
            regions = tuple(
                entry.location.name
                for entry in t.locations or ()
                if entry.deprecation is None and entry.available is not False
            )
            if not regions or (region and region not in regions):
                continue
            memory = int(float(t.memory or 0) * 1024)
            label = f"{t.name.upper()} ({t.cores} vCPU, {float(t.memory or 0):g} GB)"
            types.append(NodeTypeInfo(t.name, label, regions, t.cores, memory, t.disk or 0))
        return types

    def _info(self, server: BoundServer) -> HostInfo:
        public = server.public_net
        ipv4 = public.ipv4.ip if public and public.ipv4 else None
        private = [n.ip for n in server.private_net or [] if n.ip]
        return HostInfo(
            id=str(server.id),
            state=STATES.get(server.status or "", HostState.UNKNOWN),
            public_ip=ipv4,
            private_ips=private,
            provider_state=server.status or "",
            tags=dict(server.labels or {}),
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
        labels = {_label(k): _label(v) for k, v in (tags or {}).items()}
        labels[NODE_TAG] = str(node_uuid)

        def create() -> HostInfo:
            answer = self._call(
                "create the server",
                self._client.servers.create,
                name=f"dc-{node_uuid}",
                server_type=ServerType(name=node_type),
                image=Image(name=(options or {}).get("image") or IMAGE),
                location=Location(name=region),
                user_data=user_data,
                labels=labels,
                start_after_create=True,
            )
            return self._info(answer.server)

        return create_once(lambda: self.find_host(node_uuid=node_uuid), create)

    def find_host(self, *, node_uuid: str, region: str | None = None) -> HostInfo | None:
        found = self._call(
            "look for the node's server",
            self._client.servers.get_all,
            label_selector=f"{NODE_TAG}=={node_uuid}",
        )
        live = [s for s in found if s.status != "deleting"]
        return self._info(min(live, key=lambda s: s.id)) if live else None

    def _server_id(self, host_id: str) -> int:
        try:
            return int(host_id)
        except ValueError:
            raise DriverError(f"Hetzner Cloud: {host_id!r} is not a server id.", True) from None

    def get_host(self, host_id: str) -> HostInfo:
        server_id = self._server_id(host_id)
        server = self._call(
            "get the server", self._client.servers.get_by_id, server_id, gone_ok=True
        )
        if server is None:
            return HostInfo(id=host_id, state=HostState.TERMINATED, provider_state="gone")
        return self._info(server)

    def destroy_host(self, host_id: str) -> None:
        server = Server(id=self._server_id(host_id))
        self._call("delete the server", self._client.servers.delete, server, gone_ok=True)
