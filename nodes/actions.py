"""Writes on Actions: create, start, log, finish. Conditional updates, safe from any worker."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import Organization

from .events import action_log_event, action_state_event
from .models import FINAL_ACTION_STATES, Action, ActionState

MAX_LINE = 4000


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


def action_start(*, action_id: int) -> bool:
    """Pending -> In progress; False if it was canceled or already started meanwhile."""
    started = Action.objects.filter(pk=action_id, state=ActionState.PENDING).update(
        state=ActionState.IN_PROGRESS, start_date=timezone.now()
    )
    if started:
        action_state_event(action_id=action_id)
    return bool(started)


def action_log(*, action_id: int, line: str) -> None:
    """Append one line to the action's log (one UPDATE, no read-modify-write race)."""
    text = line.rstrip("\n")[:MAX_LINE] + "\n"
    Action.objects.filter(pk=action_id).update(logs=Concat(F("logs"), Value(text)))
    action_log_event(action_id=action_id, line=text[:-1])


def action_finish(*, action_id: int, success: bool, error: str = "") -> bool:
    """In progress (or Pending) -> Success | Failed; Canceling -> Canceled. True if it changed."""
    now = timezone.now()
    with transaction.atomic():
        canceled = Action.objects.filter(pk=action_id, state=ActionState.CANCELING).update(
            state=ActionState.CANCELED, end_date=now
        )
        state = ActionState.SUCCESS if success else ActionState.FAILED
        finished = canceled or (
            Action.objects.filter(pk=action_id)
            .exclude(state__in=FINAL_ACTION_STATES)
            .update(state=state, end_date=now, error=error[:MAX_LINE])
        )
        if finished:
            action_state_event(action_id=action_id)
        return bool(finished)


def action_cancel(*, action_id: int) -> Action:
    """Pending -> Canceled; In progress -> Canceling when the work can stop; else a 400."""
    now = timezone.now()
    changed = Action.objects.filter(pk=action_id, state=ActionState.PENDING).update(
        state=ActionState.CANCELED, end_date=now
    )
    changed += Action.objects.filter(
        pk=action_id, state=ActionState.IN_PROGRESS, can_be_canceled=True
    ).update(state=ActionState.CANCELING)
    if changed:
        action_state_event(action_id=action_id)
    action = Action.objects.get(pk=action_id)
    if action.state not in (ActionState.CANCELED, ActionState.CANCELING):
        raise ValidationError({"state": [f"An action in state {action.state} cannot be canceled."]})
    return action
