"""Every message of the live event streams, typed in one place.

Three families: group messages between processes (their `type` names the consumer handler,
`events.batch` -> `events_batch`), frames sent to browsers (`/ws/events/`), and frames of the
Docker Cloud-compatible streams (`/api/audit/v1/[ns/]events`, action logs). Agents get `ack`.
"""

import json
from typing import Any, Literal, TypedDict

DockerCloudAction = Literal["create", "update", "delete"]


class EventPayload(TypedDict):
    """One stored event, as browsers get it and as Docker Cloud frames are built from."""

    id: int  # database id: pages catch up from the last one they saw
    uuid: str
    org: str  # organization name (the API namespace)
    node: str | None  # node uuid
    node_name: str
    seq: int | None  # the agent's sequence number (None for platform events)
    time: str  # ISO 8601, UTC, microseconds: 2016-02-01T16:47:28.123456Z
    type: str  # container, image, network, volume, daemon, gap, node, nodecluster, action, ...
    action: str  # docker's (start, die, ...) or Docker Cloud's (create, update, delete)
    actor: str  # container/image/... id, or the object's uuid for platform events
    attributes: dict[str, Any]  # docker's Actor.Attributes; platform: state, resource_uri, parents


# --- group messages (channel layer) ---------------------------------------------------------
class EventsBatchMessage(TypedDict):
    """Events of one group. Serialized once here, not once per receiving socket: browsers get
    `events_json` spliced into their frame as is."""

    type: Literal["events.batch"]
    events_json: str  # json.dumps(list[EventPayload])


class MembershipRemovedMessage(TypedDict):
    type: Literal["membership.removed"]
    org_id: int
    user_id: int


class CredentialsRevokedMessage(TypedDict):
    """The credential a socket was opened with is no longer valid (key revoked, password
    changed, user deactivated): the socket closes."""

    type: Literal["credentials.revoked"]
    reason: str


class ActionLogMessage(TypedDict):
    type: Literal["action.log"]
    log: str
    timestamp: int
    end: int  # length of the action's log once this line was appended (dedupes the tail)


class ActionEndMessage(TypedDict):
    type: Literal["action.end"]
    state: str


class SessionEndedMessage(TypedDict):
    """The login session a portal socket was opened with logged out: the socket closes."""

    type: Literal["session.ended"]


GroupMessage = (
    EventsBatchMessage
    | MembershipRemovedMessage
    | CredentialsRevokedMessage
    | SessionEndedMessage
    | ActionLogMessage
    | ActionEndMessage
)


def events_batch(events: list[EventPayload]) -> EventsBatchMessage:
    return {"type": "events.batch", "events_json": json.dumps(events, separators=(",", ":"))}


def events_batch_of_arrays(arrays: list[str]) -> EventsBatchMessage:
    """The same, from JSON arrays of events serialized already (once for all their groups)."""
    return {"type": "events.batch", "events_json": "[" + ",".join(a[1:-1] for a in arrays) + "]"}


def batch_events(message: EventsBatchMessage) -> list[EventPayload]:
    return json.loads(message["events_json"])


def membership_removed(*, org_id: int, user_id: int) -> MembershipRemovedMessage:
    return {"type": "membership.removed", "org_id": org_id, "user_id": user_id}


def credentials_revoked(*, reason: str) -> CredentialsRevokedMessage:
    return {"type": "credentials.revoked", "reason": reason}


def session_ended() -> SessionEndedMessage:
    return {"type": "session.ended"}


def action_log(*, log: str, timestamp: int, end: int) -> ActionLogMessage:
    return {"type": "action.log", "log": log, "timestamp": timestamp, "end": end}


def action_end(*, state: str) -> ActionEndMessage:
    return {"type": "action.end", "state": state}


# --- to agents ----------------------------------------------------------------------------
class AckFrame(TypedDict):
    """Every event of the node up to `seq` is stored (sent first on connect: where to resume)."""

    type: Literal["ack"]
    seq: int


# --- to browsers (/ws/events/) --------------------------------------------------------------
class NodeStateItem(TypedDict):
    uuid: str
    state: str


class SubscribedFrame(TypedDict):
    type: Literal["subscribed"]
    org: str
    node: str | None
    nodes: list[NodeStateItem]  # current states, so a page rendered a moment ago is corrected
    last_id: int


class EventsFrame(TypedDict):
    type: Literal["events"]
    events: list[EventPayload]
    catchup: bool
    truncated: bool  # catch-up was cut: reload rather than trust the page


class ErrorFrame(TypedDict):
    type: Literal["error"]
    error: str
    org: str | None
    node: str | None


# --- Docker Cloud streams -------------------------------------------------------------------
class DockerCloudFrame(TypedDict):
    """One frame of `/api/audit/v1/[ns/]events`, as Docker Cloud sent them."""

    type: str  # node, nodecluster, action, container
    action: DockerCloudAction
    parents: list[str]
    resource_uri: str
    state: str
    uuid: str  # the event's id
    datetime: str  # 2016-02-01T16:47:28Z


class LogFrame(TypedDict):
    """One line of `/api/audit/v1/[ns/]action/<uuid>/logs/`."""

    type: Literal["log"]
    log: str
    timestamp: int
