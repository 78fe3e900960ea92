"""Every page and POST under /orgs/<ns>/: anonymous to login, outsider 404, read/write-level
members 403 on admin writes (nothing changes), the owner's writes work and are audited."""

import pytest

from accounts.models import ApiKey, AuditEntry, Invitation, Membership, Organization, Team, User

pytestmark = pytest.mark.django_db

BASE = "/orgs/acme"


def _reads(acme):
    """Pages every member sees."""
    return [
        f"{BASE}/",
        f"{BASE}/members/",
        f"{BASE}/teams/",
        f"{BASE}/teams/{acme.team.uuid}/",
    ]


def _admin_reads(acme):
    """Pages only owners and admins see."""
    account = acme.account.uuid
    return [
        f"{BASE}/invitations/",
        f"{BASE}/audit/",
        f"{BASE}/service-accounts/",
        f"{BASE}/service-accounts/{account}/",
    ]


def _writes(acme):
    """(path, form data, audit action), in an order the owner can run them one after another."""
    team, account, key = acme.team.uuid, acme.account.uuid, acme.account_key.uuid
    return [
        (f"{BASE}/", {"display_name": "Acme Inc"}, "organization.update"),
        (f"{BASE}/members/", {"username": "erin", "role": "member"}, "member.add"),
        (f"{BASE}/members/bob/role/", {"role": "admin"}, "member.role"),
        (f"{BASE}/teams/", {"name": "intruders", "permission": "read"}, "team.create"),
        (
            f"{BASE}/teams/{team}/",
            {"name": "ops", "permission": "admin", "members": ["bob"]},
            "team.update",
        ),
        (
            f"{BASE}/invitations/",
            {"email": "new@example.com", "role": "member"},
            "invitation.create",
        ),
        (f"{BASE}/invitations/{acme.invitation.uuid}/revoke/", {}, "invitation.revoke"),
        (f"{BASE}/service-accounts/", {"name": "evil", "role": "member"}, "service_account.create"),
        (f"{BASE}/service-accounts/{account}/apikeys/", {"label": "x"}, "apikey.create"),
        (f"{BASE}/service-accounts/{account}/apikeys/{key}/revoke/", {}, "apikey.revoke"),
        (f"{BASE}/teams/{team}/delete/", {}, "team.delete"),
        (f"{BASE}/members/bob/remove/", {}, "member.remove"),
        (f"{BASE}/service-accounts/{account}/delete/", {}, "service_account.delete"),
    ]


def _snapshot():
    """Everything a portal write could change, including the audit log."""
    return (
        sorted(Organization.objects.values_list("name", "display_name")),
        sorted(Membership.objects.values_list("organization__name", "user__username", "role")),
        sorted(Team.objects.values_list("name", "permission", "members__username"), key=repr),
        sorted(Invitation.objects.values_list("email", "revoked_at"), key=repr),
        sorted(ApiKey.objects.values_list("label", "revoked_at"), key=repr),
        User.objects.count(),
        AuditEntry.objects.count(),
    )


def test_anonymous_is_sent_to_login(client, acme):
    for path in _reads(acme) + _admin_reads(acme):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next="), path
    before = _snapshot()
    for path, data, _ in _writes(acme):
        assert client.post(path, data).status_code == 302, path
    assert _snapshot() == before


def test_outsider_gets_404_everywhere_and_changes_nothing(client, acme, outsider, erin):
    client.force_login(outsider.user)
    for path in _reads(acme) + _admin_reads(acme):
        assert client.get(path).status_code == 404, path
    before = _snapshot()
    for path, data, _ in _writes(acme):
        assert client.post(path, data).status_code == 404, path
    assert _snapshot() == before


def test_outsider_gets_404_for_acme_objects_under_their_own_organization(client, acme, outsider):
    """Object lookups are scoped to the organization in the URL, not just to the caller."""
    client.force_login(outsider.user)
    own = "/orgs/globex"
    team, account, key = acme.team.uuid, acme.account.uuid, acme.account_key.uuid
    assert client.get(f"{own}/teams/{team}/").status_code == 404
    assert client.get(f"{own}/service-accounts/{account}/").status_code == 404
    before = _snapshot()
    posts = [
        (f"{own}/teams/{team}/", {"name": "stolen", "permission": "admin"}),
        (f"{own}/teams/{team}/delete/", {}),
        (f"{own}/invitations/{acme.invitation.uuid}/revoke/", {}),
        (f"{own}/service-accounts/{account}/delete/", {}),
        (f"{own}/service-accounts/{account}/apikeys/", {"label": "stolen"}),
        (f"{own}/service-accounts/{account}/apikeys/{key}/revoke/", {}),
        (f"{own}/members/bob/role/", {"role": "owner"}),
        (f"{own}/members/bob/remove/", {}),
    ]
    for path, data in posts:
        assert client.post(path, data).status_code == 404, path
    assert _snapshot() == before


def test_outsider_does_not_see_acme_in_navigation_or_dashboard(client, acme, outsider):
    client.force_login(outsider.user)
    response = client.get("/")
    assert [o.name for o in response.context["nav_organizations"]] == ["carol", "globex"]
    assert "/orgs/acme/" not in response.content.decode()


@pytest.mark.parametrize("person", ["readonly_member", "writer"])
def test_members_below_admin_read_pages_but_get_403_on_admin_pages_and_writes(
    client, acme, erin, request, person
):
    client.force_login(request.getfixturevalue(person).user)
    for path in _reads(acme):
        assert client.get(path).status_code == 200, path
    for path in _admin_reads(acme):
        assert client.get(path).status_code == 403, path
    before = _snapshot()
    # They may leave (remove themselves), so try to remove the owner instead.
    writes = [w for w in _writes(acme) if "/members/bob/remove/" not in w[0]]
    writes.append((f"{BASE}/members/alice/remove/", {}, None))
    for path, data, _ in writes:
        assert client.post(path, data).status_code == 403, path
    assert _snapshot() == before


def _org_forms(client, paths) -> dict[str, int]:
    """How many POST forms aimed at acme each page holds, not counting "leave"."""
    counts = {}
    for path in paths:
        html = client.get(path).content.decode()
        html = html.replace('action="/orgs/acme/members/bob/remove/"', "")
        counts[path] = html.count('method="post" action="/orgs/acme/')
    return counts


def test_readonly_member_sees_no_write_forms_the_owner_sees(client, acme, owner, readonly_member):
    client.force_login(owner.user)
    assert all(_org_forms(client, _reads(acme)).values())
    client.force_login(readonly_member.user)
    assert not any(_org_forms(client, _reads(acme)).values())
    assert "Invitations" not in client.get(f"{BASE}/").content.decode()  # nor admin tabs


def test_owner_writes_work_and_are_audited(client, acme, owner, erin):
    client.force_login(owner.user)
    for path in _reads(acme) + _admin_reads(acme):
        assert client.get(path).status_code == 200, path
    for path, data, action in _writes(acme):
        entries = AuditEntry.objects.filter(action=action, organization=owner.org)
        before = entries.count()
        response = client.post(path, data)
        assert response.status_code in (200, 302), path
        if response.status_code == 200:  # a page that shows a result, not a form with errors
            assert response.context.get("form") is None or not response.context["form"].errors
        assert entries.count() == before + 1, (path, action)
        assert entries.first().actor == owner.user
    assert Organization.objects.get(name="acme").display_name == "Acme Inc"
    assert not Membership.objects.filter(organization=owner.org, user__username="bob").exists()
    assert not Team.objects.filter(organization=owner.org, name="ops").exists()
    assert not User.objects.filter(username="acme+ci").exists()


def test_get_on_a_post_only_url_is_405_for_members_and_404_for_outsiders(
    client, acme, owner, outsider
):
    path = f"{BASE}/teams/{acme.team.uuid}/delete/"
    client.force_login(owner.user)
    assert client.get(path).status_code == 405
    client.force_login(outsider.user)
    assert client.get(path).status_code == 404
    assert Team.objects.filter(pk=acme.team.pk).exists()
