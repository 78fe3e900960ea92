"""Tenant-scoped reads on SSH installs."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Organization

from .models import SshInstall


def ssh_installs_list(*, organization: Organization) -> QuerySet[SshInstall]:
    return (
        SshInstall.objects.filter(organization=organization)
        .select_related("organization", "action", "node")
        .order_by("-created", "-id")
    )


def ssh_install_get(*, organization: Organization, uuid) -> SshInstall:
    install = ssh_installs_list(organization=organization).filter(uuid=uuid).first()
    if install is None:
        raise Http404
    return install


def ssh_install_by_id(*, install_id: int) -> SshInstall | None:
    """For tasks, which receive ids: the row, or None if it is gone."""
    return SshInstall.objects.select_related("organization", "action").filter(pk=install_id).first()


def ssh_installs_for_node(*, organization: Organization, node_id: int) -> QuerySet[SshInstall]:
    return ssh_installs_list(organization=organization).filter(node_id=node_id)
