"""DigitalOcean through pydo, its official client (https://docs.digitalocean.com/reference/api/).

Credential: an API `token` (read + write scope). Droplets carry the tag
`dockercloud-node:<node uuid>` (DigitalOcean tags are plain strings), and creation first looks
the tag up, so a retry finds the droplet it already made. `DC_DIGITALOCEAN_API_URL` (a Django
setting, default the public API, with or without its `/v2`) points the driver elsewhere (the
tests' stand-in server).

pydo runs on azure-core, whose defaults are up to 10 retries with backoff and 300 s waits for
an answer: here the client does not retry (the tasks calling the driver retry transient
errors with their own backoff) and gives up after the timeouts in `_http`.
"""

from __future__ import annotations

import re
from functools import cached_property

import pydo
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.policies import SansIOHTTPPolicy
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
from ._http import CONNECT_TIMEOUT, READ_TIMEOUT, no_answer, status_error
from ._idempotent import create_once
from .options import ProviderOption

API_URL = "https://api.digitalocean.com"  # pydo adds the /v2 itself
IMAGE = "ubuntu-24-04-x64"
PER_PAGE = 200  # the API's maximum
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


def _with_status(pipeline_response, body, headers) -> tuple[int, dict]:
    # pydo's `cls` hook: some operations (get, destroy) answer a 404 without raising.
    return pipeline_response.http_response.status_code, body or {}


def _message(exc: HttpResponseError) -> str:
    json_of = getattr(exc.response, "json", None)  # no response, or one without a body
    try:
        body = json_of() if json_of else None
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    return message or exc.reason or "error"


class DigitalOceanDriver(ProviderDriver):
    name = "digitalocean"
    label = "DigitalOcean"
    fields = (CredentialField("token", "API token", help="A token with read and write scope."),)
    hint_field = "token"
    # What create_host passes to the droplet create: only the image (a slug, or the id of a
    # snapshot or custom image); the default one is free.
    options = (
        ProviderOption("image", r"[a-z0-9][a-z0-9._-]{0,63}", "an image slug or id", free=(IMAGE,)),
    )
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

    @cached_property
    def _endpoint(self) -> str:
        url = getattr(settings, "DC_DIGITALOCEAN_API_URL", "") or API_URL
        return url.rstrip("/").removesuffix("/v2")

    @cached_property
    def _client(self) -> pydo.Client:
        return pydo.Client(
            token=self.values.get("token", ""),
            endpoint=self._endpoint,
            retry_total=0,
            connection_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            # azure-core would log every request and answer at INFO.
            http_logging_policy=SansIOHTTPPolicy(),
        )

    def _call(self, doing: str, operation, *args, **kwargs) -> tuple[int, dict]:
        """(HTTP status, JSON body) of a pydo operation; a DriverError when it fails."""
        if self._endpoint.startswith("http://"):
            # azure-core refuses to send a bearer token over plain HTTP unless told: the
            # operator chose this endpoint (the tests' stand-in).
            kwargs["enforce_https"] = False
        try:
            return operation(*args, cls=_with_status, **kwargs)
        except HttpResponseError as exc:
            if exc.status_code is None:
                raise no_answer(self.label, doing, exc) from None
            raise status_error(self.label, doing, _message(exc), exc.status_code) from None
        except (AzureError, ValueError) as exc:  # no answer, or not JSON
            raise no_answer(self.label, doing, exc) from None

    def _all(self, operation, key: str, doing: str, **params) -> list[dict]:
        items: list[dict] = []
        page = 1
        while page:
            _, body = self._call(doing, operation, per_page=PER_PAGE, page=page, **params)
            found = body.get(key) or []
            items += found
            more = ((body.get("links") or {}).get("pages") or {}).get("next")
            page = page + 1 if more and found else 0
        return items

    def validate(self) -> None:
        _, body = self._call("check the token", self._client.account.get)
        status = (body.get("account") or {}).get("status", "active")
        if status not in ("active", "warning"):
            raise DriverError(f"DigitalOcean: the account is {status}.", permanent=True)

    def regions(self) -> list[RegionInfo]:
        found = self._all(self._client.regions.list, "regions", "list regions")
        return [
            RegionInfo(r["slug"], r.get("name", r["slug"])) for r in found if r.get("available")
        ]

    def node_types(self, region: str | None = None) -> list[NodeTypeInfo]:
        types = []
        for s in self._all(self._client.sizes.list, "sizes", "list sizes"):
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
        body = {
            "name": f"dc-{node_uuid}",
            "region": region,
            "size": node_type,
            "image": (options or {}).get("image") or IMAGE,
            "user_data": user_data,
            "tags": [node_tag(node_uuid)] + [_tag(k, v) for k, v in (tags or {}).items()],
        }

        def create() -> HostInfo:
            _, answer = self._call("create the droplet", self._client.droplets.create, body=body)
            return self._info(answer["droplet"])

        return create_once(lambda: self.find_host(node_uuid=node_uuid), create)

    def find_host(self, *, node_uuid: str, region: str | None = None) -> HostInfo | None:
        found = self._all(
            self._client.droplets.list,
            "droplets",
            "look for the node's droplet",
            tag_name=node_tag(node_uuid),
        )
        live = [d for d in found if d.get("status") != "archive"]
        return self._info(min(live, key=lambda d: d["id"])) if live else None

    def _droplet_id(self, host_id: str) -> int:
        try:
            return int(host_id)
        except ValueError:
            raise DriverError(f"DigitalOcean: {host_id!r} is not a droplet id.", True) from None

    def get_host(self, host_id: str) -> HostInfo:
        droplet_id = self._droplet_id(host_id)
        status, body = self._call("get the droplet", self._client.droplets.get, droplet_id)
        if status == 404:
            return HostInfo(id=host_id, state=HostState.TERMINATED, provider_state="gone")
        return self._info(body["droplet"])

    def destroy_host(self, host_id: str) -> None:
        # A 404 (already gone) is an answer pydo accepts here, not an error.
        droplet_id = self._droplet_id(host_id)
        self._call("destroy the droplet", self._client.droplets.destroy, droplet_id)
