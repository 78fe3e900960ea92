"""Organization pages: creation, overview, members, teams, audit log."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services
from accounts.audit import Actor, audit_record
from accounts.models import AuditEntry, Membership, Organization, Team
from tests.conftest import make_user

from .conftest import text

pytestmark = pytest.mark.django_db


def test_create_organization_makes_me_its_owner(client, owner):
    client.force_login(owner.user)
    response = client.post("/orgs/new/", {"name": "initech", "display_name": "Initech"})
    assert response.status_code == 302
    assert response["Location"] == "/orgs/initech/"
    org = Organization.objects.get(name="initech")
    assert Membership.objects.get(organization=org, user=owner.user).role == "owner"
    page = client.get("/orgs/initech/")
    assert "Your role owner" in text(page)
    assert "Created the organization initech." in text(page)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("orgs", "'orgs' is a reserved name."),
        ("acme", "The name 'acme' is already taken."),
        ("Bad Name", "Use 2 to 30 characters"),
    ],
)
def test_create_organization_shows_name_errors_and_creates_nothing(client, owner, name, message):
    client.force_login(owner.user)
    before = Organization.objects.count()
    response = client.post("/orgs/new/", {"name": name})
    assert response.status_code == 200
    assert message in text(response)
    assert Organization.objects.count() == before


def test_overview_shows_role_and_level(client, owner, writer):
    client.force_login(writer.user)
    page = text(client.get("/orgs/acme/"))
    assert "Your role member" in page
    assert "Your access level write" in page


def test_admin_adds_member_and_changes_role(client, owner, erin):
    client.force_login(owner.user)
    response = client.post("/orgs/acme/members/", {"username": "erin", "role": "member"})
    assert response.status_code == 302
    membership = Membership.objects.get(organization=owner.org, user=erin)
    assert membership.role == "member"
    client.post("/orgs/acme/members/erin/role/", {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == "admin"


def test_adding_unknown_or_existing_member_shows_the_error(client, owner, readonly_member):
    client.force_login(owner.user)
    response = client.post("/orgs/acme/members/", {"username": "nobody", "role": "member"})
    assert response.context["form"].errors["username"] == ["No user named 'nobody'."]
    response = client.post("/orgs/acme/members/", {"username": "bob", "role": "member"})
    assert response.context["form"].errors["username"] == ["bob is already a member."]


def test_last_owner_cannot_be_demoted_and_is_told_why(client, owner):
    client.force_login(owner.user)
    response = client.post("/orgs/acme/members/alice/role/", {"role": "member"}, follow=True)
    assert "alice: The last owner cannot be demoted." in text(response)
    assert Membership.objects.get(organization=owner.org, user=owner.user).role == "owner"


def test_admin_who_is_not_owner_cannot_remove_an_owner(client, owner, readonly_member, erin):
    actor = Actor(user=owner.user)
    services.membership_add(actor=actor, organization=owner.org, username="erin", role="owner")
    services.membership_set_role(
        actor=actor,
        membership=Membership.objects.get(organization=owner.org, user=readonly_member.user),
        role="admin",
    )
    client.force_login(readonly_member.user)
    response = client.post("/orgs/acme/members/alice/remove/", follow=True)
    assert "Only an owner can grant or remove the owner role." in text(response)
    assert Membership.objects.filter(organization=owner.org, user=owner.user).exists()


def test_any_member_can_leave(client, owner, readonly_member):
    client.force_login(readonly_member.user)
    response = client.post("/orgs/acme/members/bob/remove/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not Membership.objects.filter(organization=owner.org, user=readonly_member.user).exists()
    assert not Team.objects.filter(organization=owner.org, members=readonly_member.user).exists()
    assert client.get("/orgs/acme/").status_code == 404


def test_last_owner_cannot_leave(client, owner):
    client.force_login(owner.user)
    response = client.post("/orgs/acme/members/alice/remove/", follow=True)
    assert "The last owner cannot leave the organization." in text(response)
    assert Membership.objects.filter(organization=owner.org, user=owner.user).exists()


def test_team_create_edit_members_and_delete(client, owner, readonly_member):
    client.force_login(owner.user)
    response = client.post("/orgs/acme/teams/", {"name": "ops", "permission": "write"})
    team = Team.objects.get(organization=owner.org, name="ops")
    assert response["Location"] == f"/orgs/acme/teams/{team.uuid}/"
    response = client.post(
        f"/orgs/acme/teams/{team.uuid}/",
        {"name": "operations", "permission": "admin", "members": ["alice", "bob"]},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.permission) == ("operations", "admin")
    assert sorted(u.username for u in team.members.all()) == ["alice", "bob"]
    assert "operations admin alice, bob" in text(client.get("/orgs/acme/teams/"))
    client.post(f"/orgs/acme/teams/{team.uuid}/delete/")
    assert not Team.objects.filter(pk=team.pk).exists()


def test_team_name_clash_shows_error_and_changes_nothing(client, owner, readonly_member):
    client.force_login(owner.user)
    response = client.post("/orgs/acme/teams/", {"name": "viewers", "permission": "admin"})
    assert response.context["form"].errors["name"] == ["A team named 'viewers' already exists."]
    ops = services.team_create(actor=Actor(user=owner.user), organization=owner.org, name="ops")
    response = client.post(
        f"/orgs/acme/teams/{ops.uuid}/", {"name": "viewers", "permission": "admin"}
    )
    assert response.context["form"].errors["name"] == ["A team named 'viewers' already exists."]
    ops.refresh_from_db()
    assert (ops.name, ops.permission) == ("ops", "read")


def test_team_members_must_be_members_of_the_organization(client, owner, outsider):
    client.force_login(owner.user)
    team = services.team_create(actor=Actor(user=owner.user), organization=owner.org, name="ops")
    response = client.post(
        f"/orgs/acme/teams/{team.uuid}/",
        {"name": "ops", "permission": "admin", "members": ["carol"]},
    )
    assert "members" in response.context["form"].errors
    assert not team.members.exists()
    team.refresh_from_db()
    assert team.permission == "read"  # the whole edit is refused, not half of it


def test_audit_log_is_paginated_by_50_newest_first(client, owner, django_assert_max_num_queries):
    actor = Actor(user=owner.user, ip="192.0.2.7")
    for i in range(60):
        audit_record(actor=actor, action="test.event", organization=owner.org, object_repr=f"n{i}")
    total = AuditEntry.objects.filter(organization=owner.org).count()
    client.force_login(owner.user)
    with django_assert_max_num_queries(12):
        first = client.get("/orgs/acme/audit/")
    assert len(first.context["page"].object_list) == 50
    assert first.context["page"].object_list[0].object_repr == "n59"
    assert "192.0.2.7" in text(first)
    second = client.get("/orgs/acme/audit/?page=2")
    assert len(second.context["page"].object_list) == total - 50
    assert "Page 2 of 2" in text(second)


def test_audit_log_shows_only_this_organizations_entries(client, owner, outsider):
    client.force_login(outsider.user)
    page = text(client.get("/orgs/globex/audit/"))
    assert "organization.create" in page
    assert "acme" not in page


@pytest.mark.parametrize("path", ["/orgs/acme/members/", "/orgs/acme/teams/", "/"])
def test_list_pages_take_the_same_queries_for_more_rows(client, owner, path):
    """No query per row: nine rows of each take as many queries as one."""
    client.force_login(owner.user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    actor = Actor(user=owner.user)

    def add_rows(names):
        for name in names:
            make_user(name)
            services.membership_add(actor=actor, organization=owner.org, username=name)
            team = services.team_create(actor=actor, organization=owner.org, name=f"t-{name}")
            services.team_set_members(actor=actor, team=team, usernames=[name])
            services.organization_create(actor=actor, name=f"o-{name}")

    add_rows(["user0"])  # one row of each, so prefetches run in both counts
    client.get(path)  # the first visit records the organization last looked at: once, not per row
    before = queries()
    add_rows([f"user{i}" for i in range(1, 9)])
    assert queries() == before
