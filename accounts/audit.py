"""Audit records: who did what to which object, when, from which address."""

from dataclasses import dataclass

from core.clientip import client_ip

from .models import AuditEntry, Organization, User


@dataclass(frozen=True)
class Actor:
    """The person (or service account, or the system) behind a write, and where from."""

    user: User | None
    ip: str | None = None

    @classmethod
    def from_request(cls, request) -> "Actor":
        user = request.user if request.user.is_authenticated else None
        return cls(user=user, ip=client_ip(request) or None)

    @property
    def name(self) -> str:
        return self.user.username if self.user else "system"

    @property
    def person(self) -> User:
        """`user`, for a write only a user makes (joining or founding an organization)."""
        if self.user is None:
            raise ValueError("this write needs a user, not the system")
        return self.user


SYSTEM = Actor(user=None)


def audit_record(
    *,
    actor: Actor,
    action: str,
    organization: Organization | None = None,
    obj=None,
    object_type: str = "",
    object_repr: str = "",
    data: dict | None = None,
) -> AuditEntry:
    """Write one audit row. `data` must never hold secrets."""
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_repr = object_repr or str(getattr(obj, "name", None) or obj)[:200]
    return AuditEntry.objects.create(
        organization=organization,
        actor=actor.user,
        actor_name=actor.name,
        action=action,
        object_type=object_type,
        object_id=str(getattr(obj, "uuid", "") or getattr(obj, "pk", "") or "") if obj else "",
        object_repr=object_repr,
        ip=actor.ip,
        data=data or {},
    )
