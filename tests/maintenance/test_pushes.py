"""Changes to who may log in queue a push to the organization's nodes (after the commit), and
a push sends each node only what changed."""

import pytest

from accounts import services as accounts
from accounts.audit import Actor
from accounts.models import AuditEntry
from maintenance import services
from maintenance.models import ImageRemoval, NodeMaintenance
from nodes.agent_rpc import AgentUnavailable
from nodes.transitions import liveness
from tests.events.conftest import register_node

from .test_api import public_key


@pytest.fixture
def pushed(monkeypatch):
    queued = []
    monkeypatch.setattr("maintenance.tasks.push_org.delay", queued.append)
    return queued


def test_keys_members_teams_and_settings_queue_a_push(
    owner, readonly_member, outsider, pushed, django_capture_on_commit_callbacks
):
    actor = Actor(user=owner.user)
    acme, globex = owner.org.pk, outsider.org.pk

    def queued_by(change) -> list[int]:
        pushed.clear()
        with django_capture_on_commit_callbacks(execute=True):
            change()
        return sorted(set(pushed))

    bob = readonly_member.user
    bobs = sorted(bob.memberships.values_list("organization_id", flat=True))  # his own org too
    assert acme in bobs and globex not in bobs
    key = public_key()
    adding = lambda: accounts.sshkey_add(actor=actor, user=bob, label="", public_key=key)  # noqa: E731
    assert queued_by(adding) == bobs
    assert queued_by(lambda: None) == []
    sshkey = bob.ssh_keys.get()
    assert queued_by(lambda: accounts.sshkey_delete(actor=actor, key=sshkey)) == bobs
    team = owner.org.teams.get(name="viewers")
    assert queued_by(lambda: accounts.team_set_members(actor=actor, team=team, usernames=[])) == [
        acme
    ]
    membership = owner.org.memberships.get(user=bob)
    assert queued_by(lambda: accounts.membership_remove(actor=actor, membership=membership)) == [
        acme
    ]
    carol = outsider.user
    carols = sorted(carol.memberships.values_list("organization_id", flat=True))
    assert globex in carols and acme not in carols
    assert (
        queued_by(
            lambda: accounts.sshkey_add(actor=actor, user=carol, label="", public_key=public_key())
        )
        == carols
    )
    assert queued_by(
        lambda: services.settings_update(
            actor=actor, organization=owner.org, changes={"ssh_user": "ops"}
        )
    ) == [acme]


def test_a_push_sends_only_what_changed_and_records_an_unreachable_agent(owner, monkeypatch):
    node, _ = register_node(owner)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    sent = []

    def agent_command(node_uuid, name, args, *, timeout):
        sent.append((name, args))
        return {"ok": True, "data": {}}

    monkeypatch.setattr("maintenance.services.agent_command", agent_command)
    accounts.sshkey_add(
        actor=Actor(user=owner.user), user=owner.user, label="", public_key=public_key()
    )
    assert services.node_push(node=node) is True
    assert [name for name, _ in sent] == ["set_authorized_keys", "rotate_logs"]
    assert sent[0][1]["user"] == "root" and sent[0][1]["keys"][0].endswith(" alice@dockercloud")
    assert sent[1][1] == {"max_bytes": 10 * 1024 * 1024, "keep": 1}
    sent.clear()
    assert services.node_push(node=node) is True and sent == []  # nothing changed
    assert NodeMaintenance.objects.get(node=node).keys_count == 1

    def gone(*args, **kwargs):
        raise AgentUnavailable("the agent did not answer 'set_authorized_keys' within 20 s")

    monkeypatch.setattr("maintenance.services.agent_command", gone)
    assert services.node_push(node=node, force=True) is False
    assert "did not answer" in NodeMaintenance.objects.get(node=node).push_error

    def refused(*args, **kwargs):
        return {"ok": False, "error": "no user 'deploy' on this host", "data": {}}

    monkeypatch.setattr("maintenance.services.agent_command", refused)
    assert services.node_push(node=node, force=True) is True  # answered: no quick retry
    error = NodeMaintenance.objects.get(node=node).push_error
    assert error == "the agent refused set_authorized_keys: no user 'deploy' on this host"


def test_what_an_agent_reports_about_images_is_bounded(owner, monkeypatch):
    node, _ = register_node(owner)
    good = {"id": "sha256:ok", "tags": ["a:1"], "size": 10, "unused_seconds": 4000.0}
    junk = [
        "not an image",
        {"id": "x" * 101, "size": 1},
        {"id": "", "size": 1},
        {"id": "sha256:big", "tags": ["t" * 999] * 50 + [7], "size": 2**70, "unused_seconds": True},
    ]
    reported = {"candidates": [good] * 250 + junk, "removed": [good, *junk]}
    monkeypatch.setattr(
        "maintenance.services.agent_command",
        lambda *a, **kw: {"ok": True, "data": reported},
    )
    state = services.node_images_clean(node=node, remove=True)
    assert len(state.images_candidates) == 200 and state.images_reclaimable == 2000
    removals = list(ImageRemoval.objects.filter(node=node).order_by("image_id"))
    assert [r.image_id for r in removals] == ["sha256:big", "sha256:ok"]  # the rest dropped
    assert AuditEntry.objects.get(action="node.images_removed").data["bytes"] == 10

    reported = {"candidates": [junk[3]], "removed": "all of them"}
    state = services.node_images_clean(node=node, remove=False)
    (big,) = state.images_candidates
    assert big["size"] == 0 and big["unused_seconds"] == 0.0
    assert len(big["tags"]) == 20 and all(len(t) == 255 for t in big["tags"])
