"""The `local` provider: hosts on the control-plane machine, made by the implementation of
`LocalHosts` that settings.DC_LOCAL_HOSTS names (the node lab's `lab.provider.LabHosts`).

For development and tests: needs root, the lab's tools and dockerd, and is never offered in
production (a lab host shares the machine's filesystem outside a few private directories).
The host is named after the node uuid (`dcn-<12 hex>`), so creation is idempotent by name;
the full node uuid and the tags are kept in the host's state directory.

The user data (a shell script, as cloud-init runs at boot) is written to the host's private
/run and started in the background; its output goes to /var/log/cloud-init-output.log inside
the host, as on a cloud VM.
"""

from __future__ import annotations

import json
import os
import uuid as uuidlib
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.module_loading import import_string

from . import NODE_TAG, DriverError, HostInfo, HostState, NodeTypeInfo, ProviderDriver, RegionInfo

HOST_PREFIX = "dcn-"
TAGS_FILE = "dockercloud-tags.json"  # in the host's private lab/ state dir
USER_DATA = "/run/cloud-init/user-data"
OUTPUT_LOG = "/var/log/cloud-init-output.log"
# Runs inside the host: store the user data (stdin), then run it detached, as cloud-init would
# (a script with a `#!` line runs with its interpreter, anything else with sh).
BOOT = (
    f"mkdir -p /run/cloud-init && cat > {USER_DATA}.tmp && chmod 700 {USER_DATA}.tmp && "
    f"mv {USER_DATA}.tmp {USER_DATA} && "
    f'(setsid sh -c \'if head -c2 {USER_DATA} | grep -q "^#!"; then exec {USER_DATA}; '
    f"else exec sh {USER_DATA}; fi' >>{OUTPUT_LOG} 2>&1 </dev/null &)"
)


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


class LocalHost(Protocol):
    """One host, as the driver uses it."""

    name: str
    address: str
    status: str
    created_by: int | None

    def alive(self) -> bool: ...
    def destroy(self) -> None: ...
    def path(self, inner: str) -> Path: ...
    def state_path(self, subdir: str) -> Path: ...
    def run(self, cmd, *, input: str | None = None, timeout: float | None = None): ...


class LocalHosts(Protocol):
    """What makes the local provider's hosts; `Error` is what its calls raise."""

    Error: type[Exception]

    def available(self) -> tuple[bool, str]: ...
    def create(self, name: str) -> LocalHost: ...
    def get(self, name: str) -> LocalHost | None: ...
    def gateway(self) -> str: ...


def local_hosts() -> LocalHosts:
    """The configured implementation (imported only when the local provider is used)."""
    return import_string(settings.DC_LOCAL_HOSTS)()


class LocalDriver(ProviderDriver):
    name = "local"
    label = "Local lab"
    fields = ()
    options = ()  # create_host passes no provider options on: any is refused
    REGIONS = (RegionInfo(name="local", label="This machine"),)
    NODE_TYPES = (NodeTypeInfo(name="lab", label="Lab host (network namespace)"),)

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if settings.PRODUCTION:
            return False, "The local lab provider is for development: not available in production."
        try:
            ok, reason = local_hosts().available()
        except ImportError:
            ok, reason = False, f"{settings.DC_LOCAL_HOSTS} cannot be imported"
        if not ok:
            return False, f"The local lab provider is unavailable on this machine: {reason}."
        return True, ""

    @classmethod
    def boot_base(cls, base: str) -> str:
        """Without DC_PUBLIC_URL the control plane is served on loopback, which a local host
        cannot reach: it reaches this machine at its hosts' gateway, on the same port."""
        if settings.DC_PUBLIC_URL:
            return base
        port = urlsplit(base).port or 80
        return f"http://{local_hosts().gateway()}:{port}"

    def validate(self) -> None:
        self.require_available()

    def regions(self) -> list[RegionInfo]:
        return list(self.REGIONS)

    def node_types(self, region: str | None = None) -> list[NodeTypeInfo]:
        return list(self.NODE_TYPES)

    @staticmethod
    def host_name(node_uuid: str) -> str:
        return HOST_PREFIX + uuidlib.UUID(str(node_uuid)).hex[:12]

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
        self.require_available()
        if region != "local" or node_type != "lab":
            raise DriverError("The local provider offers region 'local', node type 'lab'.", True)
        if user_data.lstrip().startswith("#cloud-config"):
            raise DriverError("The local provider runs shell-script user data only.", True)
        hosts = local_hosts()
        name = self.host_name(node_uuid)
        host = self._host(name)
        if host is not None:
            self._check_owner(host, node_uuid)
        else:
            try:
                host = hosts.create(name)
            except hosts.Error as exc:
                raise DriverError(f"Could not create the lab host: {exc}") from None
        # A retry after a crash may find the host made but not booted: boot it once.
        if host.alive() and not host.path(USER_DATA).exists():
            try:
                host.run(["sh", "-c", BOOT], input=user_data, timeout=30)
            except Exception as exc:  # noqa: BLE001 (any failure to boot is the driver's error)
                raise DriverError(f"Could not start the user data in the lab host: {exc}") from None
        tags_file = host.state_path("lab") / TAGS_FILE
        if not tags_file.exists():
            tags_file.write_text(json.dumps({**(tags or {}), NODE_TAG: str(node_uuid)}))
        return self._info(host)

    def _check_owner(self, host, node_uuid: str) -> None:
        owner = self._info(host).tags.get(NODE_TAG)
        if owner not in (None, str(node_uuid)):
            raise DriverError(f"Lab host {host.name} belongs to another node.", permanent=True)

    def _info(self, host) -> HostInfo:
        alive = host.alive()
        try:
            tags = json.loads((host.state_path("lab") / TAGS_FILE).read_text())
        except (OSError, ValueError):
            tags = {}
        return HostInfo(
            id=host.name,
            state=HostState.RUNNING if alive else HostState.STOPPED,
            public_ip=host.address,
            private_ips=[host.address],
            provider_state="up" if alive else "holder gone",
            tags=tags,
        )

    def _host(self, name: str):
        """The live lab host called `name`, or None.

        A recorded host whose holder is gone (half-made when its creator was killed, or dead)
        cannot be brought back: like a terminated VM, it is cleaned away and counts as none.
        """
        host = local_hosts().get(name)
        if host is None:
            return None
        if not host.alive():
            if host.status == "creating" and _pid_alive(host.created_by):
                return None  # being made right now by another process
            host.destroy()
            return None
        return host

    def find_host(self, *, node_uuid: str, region: str | None = None) -> HostInfo | None:
        host = self._host(self.host_name(node_uuid))
        if host is None:
            return None
        self._check_owner(host, node_uuid)
        if not host.path(USER_DATA).exists():
            # Made, but its creator died before booting it: unlike a cloud VM (created with
            # its user data in one call) it would never register. Report none, so the caller
            # creates it again: create_host boots this host once.
            return None
        return self._info(host)

    def get_host(self, host_id: str) -> HostInfo:
        host = self._host(host_id)
        if host is None:
            return HostInfo(id=host_id, state=HostState.TERMINATED, provider_state="gone")
        return self._info(host)

    def destroy_host(self, host_id: str) -> None:
        if not host_id.startswith(HOST_PREFIX):
            raise DriverError(f"{host_id} is not a host of the local provider.", permanent=True)
        host = self._host(host_id)
        if host is not None:
            host.destroy()
