"""Every write of a node's, node cluster's or action's state, with its audit row and its event.

One table per resource (`nodes.NODE`, `clusters.CLUSTER`, `actions.ACTION`): each named
transition lists the states it may leave and the one it reaches, and the audit action that
records it (empty where it is automatic and frequent, as liveness is). A transition is one
conditional UPDATE, `filter(pk=..., state__in=sources).update(state=target, ...)`: two workers, a
request and a worker, or a sweep and a heartbeat never both win it, no row is locked, and only
the winner records the audit row and emits the Docker Cloud event (`nodes.events`).

Creating, changing (a nickname, tags, a cluster's target) and ending a node, cluster or action
go through here too, so every change of one reaches the event stream from one place. This
package is the only code that writes `state` on those models:
tests/nodes/test_transitions_guard.py fails on any other writer.

- `actions`: create, start (with a deadline), log, finish, cancel, reap.
- `nodes`: register, create, edit, upgrade, terminate, forget the agent.
- `liveness`: hello, heartbeat, reached, unreachable, the sweep (the hot path: no audit rows,
  and a heartbeat that changes no state emits nothing).
- `clusters`: create, edit, deploy, scale, terminate, settle, fail when stuck.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Model


@dataclass(frozen=True)
class Transition:
    """`sources` -> `target`; `audit` names the audit row it records ("": none)."""

    name: str
    sources: tuple[str, ...]
    target: str
    audit: str = ""


def table(*transitions: Transition) -> dict[str, Transition]:
    return {t.name: t for t in transitions}


def apply(
    model: type[Model], pk: int, transition: Transition, *, where: dict | None = None, **fields
) -> bool:
    """The conditional update (`where` adds conditions): True if this call moved the row, and
    so owns the audit row and the event."""
    rows = model._default_manager.filter(pk=pk, state__in=transition.sources, **(where or {}))
    return bool(rows.update(state=transition.target, **fields))


def current_state(model: type[Model], pk: int) -> str | None:
    return model._default_manager.filter(pk=pk).values_list("state", flat=True).first()


def refused(message: str) -> ValidationError:
    return ValidationError({"state": [message]})
