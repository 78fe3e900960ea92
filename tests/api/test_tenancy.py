"""Every organization endpoint: anonymous 401, outsider 404, read-only member 403 on writes."""

import pytest

from accounts import services
from accounts.audit import Actor
from accounts.models import Invitation, Membership, Team, User

pytestmark = pytest.mark.django_db

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGX4Rjn6CJbmNyNbWdwDyT0r7ZMmD2Y0bS0aGz6aLvT5"


def _objects(owner):
    actor = Actor(user=owner.user)
    team = services.team_create(actor=actor, organization=owner.org, name="ops")
    invitation, _ = services.invitation_create(
        actor=actor, organization=owner.org, email="x@example.com", accept_url="http://t/{token}"
    )
    account = services.service_account_create(actor=actor, organization=owner.org, name="ci")
    return team, invitation, account


# (method, path template, body) for reads and writes under /api/v1/orgs/acme/.
def _endpoints(team, invitation, account):
    base = "/api/v1/orgs/acme"
    reads = [
        ("get", f"{base}/", None),
        ("get", f"{base}/members/", None),
        ("get", f"{base}/members/alice/", None),
        ("get", f"{base}/teams/", None),
        ("get", f"{base}/teams/{team.uuid}/", None),
    ]
    admin_reads = [
        ("get", f"{base}/invitations/", None),
        ("get", f"{base}/invitations/{invitation.uuid}/", None),
        ("get", f"{base}/audit/", None),
        ("get", f"{base}/service-accounts/", None),
        ("get", f"{base}/service-accounts/{account.uuid}/", None),
    ]
    writes = [
        ("patch", f"{base}/", {"display_name": "Hacked"}),
        ("post", f"{base}/members/", {"username": "carol"}),
        ("patch", f"{base}/members/alice/", {"role": "member"}),
        ("delete", f"{base}/members/alice/", None),
        ("post", f"{base}/teams/", {"name": "intruders"}),
        ("patch", f"{base}/teams/{team.uuid}/", {"permission": "admin"}),
        ("delete", f"{base}/teams/{team.uuid}/", None),
        ("post", f"{base}/invitations/", {"email": "evil@example.com"}),
        ("delete", f"{base}/invitations/{invitation.uuid}/", None),
        ("post", f"{base}/service-accounts/", {"name": "evil"}),
        ("delete", f"{base}/service-accounts/{account.uuid}/", None),
        ("post", f"{base}/service-accounts/{account.uuid}/apikeys/", {"label": "x"}),
    ]
    return reads, admin_reads, writes


def _call(client, method, path, body):
    return (
        getattr(client, method)(path, body, format="json")
        if body
        else getattr(client, method)(path)
    )


def _snapshot():
    return (
        sorted(Membership.objects.values_list("organization__name", "user__username", "role")),
        sorted(Team.objects.values_list("name", "permission")),
        Invitation.objects.filter(revoked_at=None).count(),
        User.objects.count(),
    )


def test_anonymous_gets_401_with_error_body(owner, anon):
    reads, admin_reads, writes = _endpoints(*_objects(owner))
    for method, path, body in reads + admin_reads + writes:
        response = _call(anon, method, path, body)
        assert response.status_code == 401, (method, path)
        assert "error" in response.json()


def test_outsider_gets_404_everywhere_and_changes_nothing(owner, outsider):
    reads, admin_reads, writes = _endpoints(*_objects(owner))
    before = _snapshot()
    client = outsider.client()
    for method, path, body in reads + admin_reads + writes:
        assert _call(client, method, path, body).status_code == 404, (method, path)
    assert _snapshot() == before


def test_outsider_sees_none_of_acme_in_lists(owner, outsider):
    _objects(owner)
    names = [o["name"] for o in outsider.client().get("/api/v1/orgs/").json()["objects"]]
    assert names == ["carol", "globex"]


def test_readonly_member_reads_but_cannot_write(owner, readonly_member):
    reads, admin_reads, writes = _endpoints(*_objects(owner))
    client = readonly_member.client()
    for method, path, body in reads:
        assert _call(client, method, path, body).status_code == 200, (method, path)
    before = _snapshot()
    for method, path, body in admin_reads + writes:
        assert _call(client, method, path, body).status_code == 403, (method, path)
    assert _snapshot() == before


def test_write_team_member_cannot_manage_the_organization(owner, writer):
    _, _, writes = _endpoints(*_objects(owner))
    before = _snapshot()
    for method, path, body in writes:
        assert _call(writer.client(), method, path, body).status_code == 403, (method, path)
    assert _snapshot() == before


def test_removed_member_loses_access_on_the_next_request(owner, readonly_member):
    client = readonly_member.client()
    assert client.get("/api/v1/orgs/acme/members/").status_code == 200
    response = owner.client().delete("/api/v1/orgs/acme/members/bob/")
    assert response.status_code == 204
    assert client.get("/api/v1/orgs/acme/members/").status_code == 404


def test_removed_team_drops_its_permission_on_the_next_request(owner, writer):
    client = writer.client()
    assert client.post("/api/v1/orgs/acme/teams/", {"name": "x"}, format="json").status_code == 403
    team = owner.org.teams.get(name="deployers")
    services.team_update(actor=Actor(user=owner.user), team=team, permission="admin")
    assert client.post("/api/v1/orgs/acme/teams/", {"name": "x"}, format="json").status_code == 201
    owner.client().delete(f"/api/v1/orgs/acme/teams/{team.uuid}/")
    assert client.post("/api/v1/orgs/acme/teams/", {"name": "y"}, format="json").status_code == 403


def test_user_endpoints_never_show_another_users_keys(owner, outsider):
    ssh = services.sshkey_add(
        actor=Actor(user=owner.user),
        user=owner.user,
        label="laptop",
        public_key=ED25519,
    )
    key = owner.user.api_keys.first()
    client = outsider.client()
    assert client.get(f"/api/v1/user/apikeys/{key.uuid}/").status_code == 404
    assert client.delete(f"/api/v1/user/apikeys/{key.uuid}/").status_code == 404
    assert client.get(f"/api/v1/user/sshkeys/{ssh.uuid}/").status_code == 404
    assert client.delete(f"/api/v1/user/sshkeys/{ssh.uuid}/").status_code == 404
    labels = [k["prefix"] for k in client.get("/api/v1/user/apikeys/").json()["objects"]]
    assert key.prefix not in labels
    assert client.get("/api/v1/user/sshkeys/").json()["meta"]["total_count"] == 0
    owner.user.api_keys.get(pk=key.pk)  # still there, not revoked
    assert owner.user.api_keys.get(pk=key.pk).revoked_at is None
