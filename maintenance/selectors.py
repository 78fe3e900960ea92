"""Tenant-scoped reads of maintenance settings and state."""

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import Organization, SshKey, User
from nodes.models import Node, NodeState

from .models import ImageRemoval, MaintenanceSettings, NodeMaintenance

# What the agent writes into authorized_keys (its own list: dockercloud_agent.sshkeys).
KEY_TYPES = frozenset(
    {
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss",
    }
)  # fmt: skip
# The nodes maintenance talks to: their agent is connected. One back from Unreachable gets a
# push then (`nodes.hooks.on_deployed`); an upgrading agent is busy being replaced.
LIVE_STATES = (NodeState.DEPLOYED,)


def settings_get(*, organization: Organization) -> MaintenanceSettings:
    """The organization's settings (unsaved defaults when it never changed them)."""
    found = MaintenanceSettings.objects.filter(organization=organization).first()
    return found or MaintenanceSettings(organization=organization)


def effective(row: MaintenanceSettings) -> dict:
    """The values in force: the organization's own, else the control plane's defaults."""
    return {
        "clock_skew_max": row.clock_skew_max
        if row.clock_skew_max is not None
        else settings.DC_CLOCK_SKEW_MAX,
        "image_unused_minutes": row.image_unused_minutes or settings.DC_IMAGE_UNUSED_MINUTES,
        "log_files_kept": row.log_files_kept
        if row.log_files_kept is not None
        else settings.DC_LOG_FILES_KEPT,
    }


def key_holders(*, organization: Organization, row: MaintenanceSettings) -> QuerySet[User]:
    users = User.objects.filter(is_active=True, memberships__organization=organization)
    if row.ssh_team_id is not None:
        users = users.filter(teams__pk=row.ssh_team_id)
    return users.distinct()


def authorized_keys(*, organization: Organization, row: MaintenanceSettings) -> list[str]:
    """One line per key (type, key, owner's name), in a stable order."""
    holders = key_holders(organization=organization, row=row)
    keys = SshKey.objects.filter(user__in=holders).select_related("user").order_by("user_id", "pk")
    lines = []
    for key in keys:
        kind, blob = key.public_key.split()[:2]
        if kind in KEY_TYPES:
            lines.append(f"{kind} {blob} {key.user.username}@dockercloud")
    return lines


def live_nodes(*, organization: Organization | None = None) -> QuerySet[Node]:
    nodes = Node.objects.filter(state__in=LIVE_STATES).select_related("organization")
    return nodes.filter(organization=organization) if organization is not None else nodes


def node_state(*, node: Node) -> NodeMaintenance:
    """The node's maintenance row (unsaved when maintenance never touched it)."""
    return NodeMaintenance.objects.filter(node=node).first() or NodeMaintenance(node=node)


def clock_flagged_ids(*, node_ids: list[int]) -> frozenset[int]:
    """Of these nodes (already read through their organization), those still skewed."""
    rows = NodeMaintenance.objects.filter(node_id__in=node_ids, clock_flagged=True)
    return frozenset(rows.values_list("node_id", flat=True))


def node_states(*, organization: Organization) -> QuerySet[NodeMaintenance]:
    return (
        NodeMaintenance.objects.filter(node__organization=organization)
        .exclude(node__state=NodeState.TERMINATED)
        .select_related("node")
        .order_by("node__hostname", "node__pk")
    )


def removals(*, organization: Organization, node: Node | None = None) -> QuerySet[ImageRemoval]:
    rows = ImageRemoval.objects.filter(organization=organization).select_related("node")
    return rows.filter(node=node) if node is not None else rows


def organizations_with_live_nodes() -> list[int]:
    return list(live_nodes().values_list("organization_id", flat=True).distinct())
