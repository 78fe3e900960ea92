"""Who may log into the nodes changed: queue a push of the organization's key block.

The signals only queue work (after the commit); `services.node_push` decides what each node
gets. The beat job `maintenance-push-keys` re-pushes whatever a node missed.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.models import Membership, SshKey, Team, User
from nodes import hooks

from . import services


def _user_orgs(user_id: int) -> None:
    for org_id in Membership.objects.filter(user_id=user_id).values_list(
        "organization_id", flat=True
    ):
        services.org_push_soon(organization_id=org_id)


def _key_changed(sender, instance: SshKey, **kwargs) -> None:
    _user_orgs(instance.user_id)


def _membership_changed(sender, instance: Membership, **kwargs) -> None:
    services.org_push_soon(organization_id=instance.organization_id)


def _team_members_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if reverse:  # user.teams changed: the teams are the pk_set
        teams = Team.objects.filter(pk__in=pk_set or ())
        for org_id in set(teams.values_list("organization_id", flat=True)):
            services.org_push_soon(organization_id=org_id)
    else:
        services.org_push_soon(organization_id=instance.organization_id)


def _team_deleted(sender, instance: Team, **kwargs) -> None:
    services.org_push_soon(organization_id=instance.organization_id)


def _user_saved(sender, instance: User, update_fields=None, **kwargs) -> None:
    if update_fields is None or "is_active" in update_fields:
        _user_orgs(instance.pk)


def _node_deployed(node_id: int) -> None:
    from .tasks import push_node

    push_node.delay(node_id)


def connect() -> None:
    post_save.connect(_key_changed, sender=SshKey, dispatch_uid="maintenance-key-saved")
    post_delete.connect(_key_changed, sender=SshKey, dispatch_uid="maintenance-key-deleted")
    for signal in (post_save, post_delete):
        signal.connect(
            _membership_changed, sender=Membership, dispatch_uid=f"maintenance-member-{signal}"
        )
    m2m_changed.connect(
        _team_members_changed, sender=Team.members.through, dispatch_uid="maintenance-team"
    )
    post_delete.connect(_team_deleted, sender=Team, dispatch_uid="maintenance-team-deleted")
    post_save.connect(_user_saved, sender=User, dispatch_uid="maintenance-user-saved")
    hooks.on_deployed(_node_deployed)
