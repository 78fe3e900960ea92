"""Stored events as live payloads, and payloads as Docker Cloud stream frames."""

from datetime import UTC, datetime

from realtime.payloads import DockerCloudAction, DockerCloudFrame, EventPayload

from ..models import DockerEvent

INFRA = "/api/infra/v1/"
APP = "/api/app/v1/"
AUDIT = "/api/audit/v1/"

# Docker container actions that change what Docker Cloud called a container's state. Others
# (exec_*, attach, kill, stop: a `die` follows) are kept in the database but not streamed.
CONTAINER_FRAMES: dict[str, tuple[DockerCloudAction, str]] = {
    "create": ("create", "Stopped"),
    "start": ("update", "Running"),
    "restart": ("update", "Running"),
    "unpause": ("update", "Running"),
    "pause": ("update", "Paused"),
    "die": ("update", "Stopped"),
    "destroy": ("delete", "Terminated"),
}
# A platform event's action as the frame's action type (the events table stores plain text).
MANAGED_LABEL = "cloud.docker.container.uuid"

PLATFORM_ACTIONS: dict[str, DockerCloudAction] = {
    "create": "create",
    "update": "update",
    "delete": "delete",
}


def node_uri(org_name: str, node_uuid) -> str:
    return f"{INFRA}{org_name}/node/{node_uuid}/"


def cluster_uri(org_name: str, cluster_uuid) -> str:
    return f"{INFRA}{org_name}/nodecluster/{cluster_uuid}/"


def action_uri(action_uuid) -> str:
    return f"{AUDIT}action/{action_uuid}/"


def container_uri(org_name: str, container_id: str) -> str:
    return f"{APP}{org_name}/container/{container_id}/"


def iso(value: datetime) -> str:
    """2016-02-01T16:47:28.123456Z (isoformat: a third of strftime's cost, per event)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_payload(
    event: DockerEvent, *, org_name: str, node_uuid=None, node_name: str = ""
) -> EventPayload:
    return {
        "id": event.pk,
        "uuid": str(event.uuid),
        "org": org_name,
        "node": str(node_uuid) if node_uuid else None,
        "node_name": node_name,
        "seq": event.seq,
        "time": iso(event.time),
        "type": event.type,
        "action": event.action,
        "actor": event.actor_id,
        "attributes": event.attributes,
    }


def stored_payload(event: DockerEvent) -> EventPayload:
    """For rows read with `select_related("organization", "node")`."""
    node = event.node
    return event_payload(
        event,
        org_name=event.organization.name,
        node_uuid=node.uuid if node else None,
        node_name=(node.nickname or node.hostname) if node else "",
    )


def _dc_time(value: str) -> str:
    return value[:19] + "Z"  # Docker Cloud sent whole seconds


def dockercloud_frame(event: EventPayload) -> DockerCloudFrame | None:
    """The Docker Cloud stream frame for an event, or None if Docker Cloud had no such frame."""
    attrs = event["attributes"]
    if event["type"] == "container" and event["node"] and event["seq"] is not None:
        mapped = CONTAINER_FRAMES.get(event["action"])
        if mapped is None or not event["actor"]:
            return None
        # A container the control plane runs carries its uuid (containers.runtime.LABEL):
        # its daemon's events speak of the API's container, not of the daemon's id.
        container_id = attrs.get(MANAGED_LABEL) or event["actor"]
        return {
            "type": "container",
            "action": mapped[0],
            "parents": [node_uri(event["org"], event["node"])],
            "resource_uri": container_uri(event["org"], container_id),
            "state": mapped[1],
            "uuid": event["uuid"],
            "datetime": _dc_time(event["time"]),
        }
    action = PLATFORM_ACTIONS.get(event["action"])
    if event["seq"] is None and action is not None and attrs.get("resource_uri"):
        return {
            "type": event["type"],
            "action": action,
            "parents": list(attrs.get("parents") or []),
            "resource_uri": attrs["resource_uri"],
            "state": attrs.get("state") or "",
            "uuid": event["uuid"],
            "datetime": _dc_time(event["time"]),
        }
    return None


def describe(event: EventPayload) -> str:
    """One line about what the event concerns (the portal's Object column; live.js matches)."""
    attrs = event["attributes"]
    if event["type"] == "gap":
        return f"{attrs.get('dropped', '?')} events lost (node buffer full)"
    if event["seq"] is None and "state" in attrs:
        name = attrs.get("name") or ""
        return f"{name} → {attrs['state']}" if name else str(attrs["state"])
    name = attrs.get("name") or event["actor"][:12]
    extra = [f"{key}={attrs[key]}" for key in ("image", "exitCode") if attrs.get(key)]
    return f"{name} ({', '.join(extra)})" if extra else name
