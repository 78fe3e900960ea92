"""Actions: create, start, log, finish, cancel, reap. Conditional updates, safe from any worker.

No transition here writes an audit row but the reaper's: the verb that made the action records
who asked for it, and actions change state far too often (every API call) to audit each step.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from accounts.audit import SYSTEM, Actor, audit_record
from accounts.models import Organization

from ..events import action_log_event, action_state_event
from ..models import Action, ActionState
from . import Transition, apply, table

MAX_LINE = 4000
# An action started without a time bound of its own: longer than any verb takes.
DEFAULT_TIMEOUT = 3600

OPEN = (ActionState.PENDING, ActionState.IN_PROGRESS)
RUNNING = (ActionState.IN_PROGRESS, ActionState.CANCELING)
ACTION = table(
    Transition("start", (ActionState.PENDING,), ActionState.IN_PROGRESS),
    Transition("succeed", OPEN, ActionState.SUCCESS),
    Transition("fail", OPEN, ActionState.FAILED),
    Transition("canceled", (ActionState.CANCELING,), ActionState.CANCELED),
    Transition("cancel", (ActionState.PENDING,), ActionState.CANCELED),
    Transition("cancel_running", (ActionState.IN_PROGRESS,), ActionState.CANCELING),
    Transition("reap", RUNNING, ActionState.FAILED, audit="action.reap"),
)


def action_create(
    *,
    actor: Actor,
    organization: Organization,
    action: str,
    object_uri: str = "",
    object_uuid=None,
    method: str = "",
    path: str = "",
    body: str = "",
    user_agent: str = "",
    can_be_canceled: bool = False,
) -> Action:
    action_row = Action.objects.create(
        organization=organization,
        state=ActionState.PENDING,
        action=action,
        object_uri=object_uri,
        object_uuid=object_uuid,
        method=method,
        path=path[:255],
        body=body,
        user=actor.user,
        user_name=actor.name,
        user_agent=user_agent[:255],
        ip=actor.ip,
        is_user_action=actor.user is not None,
        can_be_canceled=can_be_canceled,
    )
    action_state_event(action_id=action_row.pk, verb="create")
    return action_row


def action_start(
    *, action_id: int, timeout: float = DEFAULT_TIMEOUT, object_uri=None, object_uuid=None
) -> bool:
    """Pending -> In progress; False if it was canceled or already started meanwhile.

    `timeout` is the verb's own bound on its work: past it and DC_ACTION_GRACE, the reaper
    fails the action (its worker died). An action created before its object (a cluster's
    create) names it here, so its first update already carries it.
    """
    now = timezone.now()
    fields: dict[str, Any] = {
        "start_date": now,
        "deadline": now + timedelta(seconds=timeout + grace()),
    }
    if object_uuid is not None:
        fields |= {"object_uri": object_uri or "", "object_uuid": object_uuid}
    started = apply(Action, action_id, ACTION["start"], **fields)
    if started:
        action_state_event(action_id=action_id)
    return started


def grace() -> int:
    return settings.DC_ACTION_GRACE


def action_log(*, action_id: int, line: str) -> None:
    """Append one line to the action's log (one UPDATE, no read-modify-write race). Lines go to
    the action's log stream, not the event stream (as in Docker Cloud)."""
    text = line.rstrip("\n")[:MAX_LINE] + "\n"
    Action.objects.filter(pk=action_id).update(logs=Concat(F("logs"), Value(text)))
    action_log_event(action_id=action_id, line=text[:-1])


def action_finish(*, action_id: int, success: bool, error: str = "") -> bool:
    """In progress (or Pending) -> Success | Failed; Canceling -> Canceled. True if it changed."""
    now = timezone.now()
    with transaction.atomic():
        outcome = ACTION["succeed"] if success else ACTION["fail"]
        finished = apply(Action, action_id, ACTION["canceled"], end_date=now) or apply(
            Action, action_id, outcome, end_date=now, error=error[:MAX_LINE]
        )
        if finished:
            action_state_event(action_id=action_id)
        return finished


def action_cancel(*, action_id: int) -> Action:
    """Pending -> Canceled; In progress -> Canceling when the work can stop; else a 400."""
    now = timezone.now()
    changed = apply(Action, action_id, ACTION["cancel"], end_date=now)
    if not changed:
        changed = apply(
            Action, action_id, ACTION["cancel_running"], where={"can_be_canceled": True}
        )
    if changed:
        action_state_event(action_id=action_id)
    action = Action.objects.get(pk=action_id)
    if action.state not in (ActionState.CANCELED, ActionState.CANCELING):
        raise ValidationError({"state": [f"An action in state {action.state} cannot be canceled."]})
    return action


def action_reap_claim(*, action: Action) -> bool:
    """In progress | Canceling, past its deadline -> Failed; True if this call failed it (a
    worker that finished meanwhile wins, and then nothing happens here). The caller settles the
    action's object, then records why with `action_reap_record`, in the same transaction."""
    now = timezone.now()
    return apply(Action, action.pk, ACTION["reap"], where={"deadline__lt": now}, end_date=now)


def action_reap_record(*, action: Action, error: str) -> None:
    """The reaped action's error and last log line, its audit row (the system's) and event."""
    Action.objects.filter(pk=action.pk).update(error=error[:MAX_LINE])
    action_log(action_id=action.pk, line=error)
    audit_record(
        actor=SYSTEM,
        action=ACTION["reap"].audit,
        organization=action.organization,
        obj=action,
        object_repr=action.action,
        data={"object": action.object_uri, "error": error[:MAX_LINE]},
    )
    action_state_event(action_id=action.pk)
