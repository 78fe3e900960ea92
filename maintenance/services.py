"""Maintenance writes: the settings, and what the agents are asked to do on each node.

Every call to an agent is idempotent (the whole key block, the whole log cap, a pass over the
images), so a task that runs twice or a node that missed one catches up on the next push.
"""

import hashlib
import json
import logging
import math
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import SYSTEM, Actor, audit_record
from accounts.models import Organization, Team
from nodes.agent_rpc import AgentUnavailable, agent_command
from nodes.events.render import node_uri
from nodes.events.services import platform_event_record
from nodes.models import Node

from . import selectors
from .models import (
    MAX_KEEP_PATTERNS,
    MAX_LOG_FILES_KEPT,
    ImageRemoval,
    MaintenanceSettings,
    NodeMaintenance,
)

log = logging.getLogger(__name__)

LOG_CAP_BYTES = 10 * 1024 * 1024
PUSH_TIMEOUT = 10
SYNC_TIMEOUT = 150
IMAGES_TIMEOUT = 300
PING_TIMEOUT = 10
REPUSH_AFTER = timedelta(hours=1)  # the safety net re-sends an unchanged block this often
MAX_CANDIDATES = 200
MAX_TAGS = 20
MAX_SIZE = 2**62
MAX_SKEW = 1e9
USER_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
EDITABLE = (
    "ssh_user", "ssh_team", "clock_skew_max", "clock_sync_command", "log_files_kept",
    "image_unused_minutes", "image_keep",
)  # fmt: skip


# --- settings -------------------------------------------------------------------------------
def _validate(row: MaintenanceSettings) -> None:
    errors: dict[str, list[str]] = {}
    user = row.ssh_user
    if not user or len(user) > 32 or user.startswith("-") or set(user) - USER_CHARS:
        errors["ssh_user"] = ["A user name: letters, digits, '.', '_' or '-', at most 32."]
    if row.ssh_team is not None and row.ssh_team.organization_id != row.organization_id:
        errors["ssh_team"] = ["No such team in this organization."]
    skew = row.clock_skew_max
    if skew is not None and not (math.isfinite(skew) and 0.01 <= skew <= 3600):
        errors["clock_skew_max"] = ["Seconds, from 0.01 to 3600."]
    command = row.clock_sync_command
    if len(command) > 1000 or any(c in command for c in "\x00\r\n"):
        errors["clock_sync_command"] = ["One shell command line of at most 1000 characters."]
    kept = row.log_files_kept
    if kept is not None and not 0 <= kept <= MAX_LOG_FILES_KEPT:
        errors["log_files_kept"] = [f"From 0 to {MAX_LOG_FILES_KEPT}."]
    minutes = row.image_unused_minutes
    if minutes is not None and not 1 <= minutes <= 525600:
        errors["image_unused_minutes"] = ["Minutes, from 1 to 525600 (a year)."]
    keep = row.image_keep
    if (
        not isinstance(keep, list)
        or len(keep) > MAX_KEEP_PATTERNS
        or not all(isinstance(p, str) and 0 < len(p) <= 255 and p.isprintable() for p in keep)
    ):
        errors["image_keep"] = [
            f"A list of at most {MAX_KEEP_PATTERNS} image names or patterns (1-255 characters)."
        ]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def settings_update(
    *, actor: Actor, organization: Organization, changes: dict
) -> MaintenanceSettings:
    """Change some of the organization's maintenance settings; nodes get them at once."""
    row = selectors.settings_get(organization=organization)
    before = {name: _plain(getattr(row, name)) for name in EDITABLE}
    for name, value in changes.items():
        if name not in EDITABLE:
            raise ValidationError({name: ["Not a maintenance setting."]})
        setattr(row, name, value)
    _validate(row)
    row.updated = timezone.now()
    row.save()
    after = {name: _plain(getattr(row, name)) for name in EDITABLE}
    changed = {k: after[k] for k in EDITABLE if after[k] != before[k]}
    audit_record(
        actor=actor,
        action="maintenance.update",
        organization=organization,
        object_type="maintenance",
        object_repr=organization.name,
        data=changed,
    )
    org_push_soon(organization_id=organization.pk)
    return row


def _plain(value):
    return str(value.uuid) if isinstance(value, Team) else value


def org_push_soon(*, organization_id: int) -> None:
    """Queue a push of keys and log settings to the organization's nodes after the commit."""
    from .tasks import push_org  # tasks import services: a cycle at import time

    transaction.on_commit(lambda: push_org.delay(organization_id))


# --- keys and log settings ------------------------------------------------------------------
def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _state(node: Node) -> NodeMaintenance:
    state, _ = NodeMaintenance.objects.get_or_create(node=node)
    return state


def node_push(*, node: Node, force: bool = False) -> bool:
    """Send the node its key block and log cap when they changed (or `force`, or an hour
    went by). False when its agent did not answer (worth trying again soon); an agent that
    answered with an error (no such user on the host) is recorded and tried again by the beat
    job, with the node's other work."""
    row = selectors.settings_get(organization=node.organization)
    keys = {
        "user": row.ssh_user,
        "keys": selectors.authorized_keys(organization=node.organization, row=row),
    }
    logs = {"max_bytes": LOG_CAP_BYTES, "keep": selectors.effective(row)["log_files_kept"]}
    state = _state(node)
    stale = state.keys_pushed_at is None or timezone.now() - state.keys_pushed_at > REPUSH_AFTER
    fields: dict[str, object] = {}
    error = ""
    try:
        if force or stale or state.keys_digest != _digest(keys):
            _command(node, "set_authorized_keys", keys, PUSH_TIMEOUT)
            fields |= {"keys_digest": _digest(keys), "keys_count": len(keys["keys"])}
            fields["keys_pushed_at"] = timezone.now()
        if force or stale or state.logs_digest != _digest(logs):
            _command(node, "rotate_logs", logs, PUSH_TIMEOUT)
            fields["logs_digest"] = _digest(logs)
    except CommandRefused as exc:
        error = str(exc)[:300]
    except AgentUnavailable as exc:
        error = str(exc)[:300]
        fields["push_error"] = error
        NodeMaintenance.objects.filter(pk=state.pk).update(**fields)
        return False
    fields["push_error"] = error
    NodeMaintenance.objects.filter(pk=state.pk).update(**fields)
    return True


class CommandRefused(AgentUnavailable):
    """The agent answered, with an error."""


REFUSED = "the agent refused "


def _command(node: Node, name: str, args: dict, timeout: float) -> dict:
    result = agent_command(node.uuid, name, args, timeout=timeout)
    if not result.get("ok"):
        raise CommandRefused(f"{REFUSED}{name}: {str(result.get('error') or 'failed')[:250]}")
    return result.get("data") or {}


# --- clock ----------------------------------------------------------------------------------
def node_measure_skew(*, node: Node) -> float | None:
    """The skew from one `ping`, corrected by its round trip (the agent's time against the
    midpoint of our send and receive times); None if the agent does not answer."""
    sent = time.time()
    try:
        data = _command(node, "ping", {}, PING_TIMEOUT)
    except AgentUnavailable:
        return None
    received = time.time()
    agent_time = data.get("time")
    if isinstance(agent_time, bool) or not isinstance(agent_time, int | float):
        return None
    skew = float(agent_time) - (sent + received) / 2
    return skew if math.isfinite(skew) and abs(skew) < MAX_SKEW else None


def clocks_due() -> list[int]:
    """Nodes whose last heartbeat showed a skew past their organization's maximum and that
    were not synced lately, each claimed (its sync time set, conditionally: a check running
    beside this one, or the next one while a slow sync runs, does not queue it again); flags
    are cleared on nodes back within the maximum."""
    due = []
    now = timezone.now()
    cooldown = now - timedelta(seconds=settings.DC_CLOCK_SYNC_COOLDOWN)
    maxima: dict[int, float] = {}
    for node in selectors.live_nodes():
        org = node.organization
        if org.pk not in maxima:
            row = selectors.settings_get(organization=org)
            maxima[org.pk] = selectors.effective(row)["clock_skew_max"]
        if node.clock_skew is None:
            continue
        state = selectors.node_state(node=node)
        if abs(node.clock_skew) <= maxima[org.pk]:
            if state.clock_flagged:
                NodeMaintenance.objects.filter(pk=state.pk).update(clock_flagged=False)
            continue
        if state.clock_synced_at is None or state.clock_synced_at < cooldown:
            state = _state(node)
            claimed = NodeMaintenance.objects.filter(
                pk=state.pk, clock_synced_at=state.clock_synced_at
            ).update(clock_synced_at=now)
            if claimed:
                due.append(node.pk)
    return due


def node_clock_sync(*, node: Node) -> NodeMaintenance:
    """Ask the agent to sync the node's clock; record the skew before and after, an audit row
    and an event; flag the node if it is still past the maximum."""
    row = selectors.settings_get(organization=node.organization)
    limit = selectors.effective(row)["clock_skew_max"]
    before = node_measure_skew(node=node)
    if before is None:
        before = node.clock_skew
    error, command = "", ""
    try:
        data = _command(node, "sync_clock", {"command": row.clock_sync_command}, SYNC_TIMEOUT)
        command = str(data.get("command") or "")[:1000]
    except AgentUnavailable as exc:
        error = str(exc)[:300]
    after = node_measure_skew(node=node)
    flagged = after is None or abs(after) > limit
    state = _state(node)
    NodeMaintenance.objects.filter(pk=state.pk).update(
        clock_synced_at=timezone.now(),
        clock_skew_before=before,
        clock_skew_after=after,
        clock_flagged=flagged,
        clock_error=error,
    )
    data = {
        "maintenance": "clock_sync",
        "skew_before": before,
        "skew_after": after,
        "skew_max": limit,
        "flagged": flagged,
        "command": command,
        "error": error,
    }
    with transaction.atomic():
        audit_record(
            actor=SYSTEM,
            action="node.clock_sync",
            organization=node.organization,
            obj=node,
            data=data,
        )
        _event(node, data)
    state.refresh_from_db()
    return state


def _event(node: Node, extra: dict) -> None:
    org = node.organization
    platform_event_record(
        organization=org,
        type="node",
        action="update",
        state=node.state,
        resource_uri=node_uri(org.name, node.uuid),
        object_uuid=node.uuid,
        node=node,
        extra=extra,
    )


# --- images ---------------------------------------------------------------------------------
def _image(item) -> dict | None:
    """One image the agent reported, within bounds, or None."""
    if not isinstance(item, dict):
        return None
    image_id, size, unused = item.get("id"), item.get("size"), item.get("unused_seconds")
    given = item.get("tags")
    tags: list = given if isinstance(given, list) else []
    if not isinstance(image_id, str) or not image_id or len(image_id) > 100:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        size = 0
    if isinstance(unused, bool) or not isinstance(unused, int | float) or not math.isfinite(unused):
        unused = 0.0
    return {
        "id": image_id,
        "tags": [t[:255] for t in tags[:MAX_TAGS] if isinstance(t, str)],
        "size": size,
        "unused_seconds": max(0.0, min(float(unused), MAX_SKEW)),
    }


def _images(items) -> list[dict]:
    items = items if isinstance(items, list) else []
    return [i for i in map(_image, items[:MAX_CANDIDATES]) if i is not None]


def images_removal_due(*, node: Node) -> bool:
    """Images are listed on every pass and removed every `DC_IMAGE_CLEANUP_INTERVAL`."""
    cleaned = selectors.node_state(node=node).images_cleaned_at
    interval = timedelta(seconds=settings.DC_IMAGE_CLEANUP_INTERVAL)
    return cleaned is not None and timezone.now() - cleaned >= interval


def node_images_clean(*, node: Node, remove: bool) -> NodeMaintenance:
    """List (and with `remove`, remove) the node's images unused past the window."""
    row = selectors.settings_get(organization=node.organization)
    args = {
        "unused_seconds": selectors.effective(row)["image_unused_minutes"] * 60,
        "keep": list(row.image_keep),
        "dry_run": not remove,
    }
    state = _state(node)
    data = _command(node, "cleanup_images", args, IMAGES_TIMEOUT)
    candidates = _images(data.get("candidates"))
    removed = _images(data.get("removed"))
    now = timezone.now()
    cleaned = now if remove or state.images_cleaned_at is None else state.images_cleaned_at
    with transaction.atomic():
        NodeMaintenance.objects.filter(pk=state.pk).update(
            images_checked_at=now,
            images_cleaned_at=cleaned,
            images_candidates=candidates,
            images_reclaimable=sum(i["size"] for i in candidates),
        )
        if removed:
            _record_removals(node, removed, now)
    state.refresh_from_db()
    return state


def _record_removals(node: Node, removed: list[dict], now) -> None:
    name = node.nickname or node.hostname or str(node.uuid)
    ImageRemoval.objects.bulk_create(
        ImageRemoval(
            organization_id=node.organization_id,
            node=node,
            node_name=name[:255],
            image_id=i["id"],
            tags=i["tags"],
            size=i["size"],
            unused_seconds=i["unused_seconds"],
            removed_at=now,
        )
        for i in removed
    )
    data = {
        "maintenance": "images_removed",
        "images": [(i["tags"] or [i["id"]])[0] for i in removed][:20],
        "count": len(removed),
        "bytes": sum(i["size"] for i in removed),
    }
    audit_record(
        actor=SYSTEM,
        action="node.images_removed",
        organization=node.organization,
        obj=node,
        data=data,
    )
    _event(node, data)
