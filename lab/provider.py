"""The lab as the local provider's hosts: the small interface `providers.drivers.local` talks to
(settings.DC_LOCAL_HOSTS names this class). The product never imports the lab; it reaches it
only through this dotted path, and only outside production."""

from __future__ import annotations

from . import hosts, net, prereq


class LabHosts:
    """Hosts made by the lab (network namespaces on this machine)."""

    Error = net.LabError

    def available(self) -> tuple[bool, str]:
        return prereq.lab_available()

    def create(self, name: str) -> hosts.Host:
        return hosts.create_host(name)

    def get(self, name: str) -> hosts.Host | None:
        try:
            return hosts.get_host(name)
        except net.LabError:
            return None

    def gateway(self) -> str:
        """The machine's address as the hosts reach it (where the control plane listens)."""
        return hosts.gateway()
