"""Invitations: created on the organization's page, accepted through the emailed link."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import services
from accounts.audit import Actor
from accounts.models import Invitation, Membership

from .conftest import text

pytestmark = pytest.mark.django_db


def _invite(client, owner, django_capture_on_commit_callbacks, **data):
    """Invite erin through the page as the owner; return the page after the redirect."""
    client.force_login(owner.user)
    with django_capture_on_commit_callbacks(execute=True):  # the email goes on commit
        return client.post(
            "/orgs/acme/invitations/",
            {"email": "erin@example.com", "role": "member"} | data,
            follow=True,
        )


def _link_path(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/invitations/accept/[\w-]+/)", body).group(1)


def test_invite_emails_a_link_shown_once_that_makes_a_membership(
    client, owner, erin, mailoutbox, django_capture_on_commit_callbacks
):
    page = _invite(client, owner, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["erin@example.com"]
    link = _link_path(mailoutbox[0].body)
    assert link in text(page)  # shown once to the admin ...
    assert link not in text(client.get("/orgs/acme/invitations/"))  # ... and not again
    assert "erin@example.com member" in text(client.get("/orgs/acme/invitations/"))

    client.force_login(erin)
    confirm = client.get(link)
    assert confirm.status_code == 200
    assert not Membership.objects.filter(organization=owner.org, user=erin).exists()
    response = client.post(link)
    assert response.status_code == 302
    assert response["Location"] == "/orgs/acme/"
    assert Membership.objects.get(organization=owner.org, user=erin).role == "member"
    assert "You joined acme as member." in text(client.get("/orgs/acme/"))


def test_invitation_with_team_puts_the_new_member_in_it(
    client, owner, readonly_member, erin, mailoutbox, django_capture_on_commit_callbacks
):
    team = readonly_member.user.teams.get()
    _invite(client, owner, django_capture_on_commit_callbacks, team=str(team.uuid))
    client.force_login(erin)
    client.post(_link_path(mailoutbox[0].body))
    assert team.members.filter(pk=erin.pk).exists()


def test_cannot_invite_into_another_organizations_team(client, owner, outsider):
    team = services.team_create(
        actor=Actor(user=outsider.user), organization=outsider.org, name="secret"
    )
    client.force_login(owner.user)
    response = client.post(
        "/orgs/acme/invitations/", {"email": "x@example.com", "role": "member", "team": team.uuid}
    )
    assert response.status_code == 200
    assert "team" in response.context["form"].errors
    assert not Invitation.objects.filter(organization=owner.org).exists()


def test_second_accept_fails_with_a_clear_message(
    client, owner, erin, outsider, mailoutbox, django_capture_on_commit_callbacks
):
    _invite(client, owner, django_capture_on_commit_callbacks)
    link = _link_path(mailoutbox[0].body)
    client.force_login(erin)
    client.post(link)
    client.force_login(outsider.user)
    response = client.post(link)
    assert response.status_code == 200
    assert "This invitation has already been used." in text(response)
    assert not Membership.objects.filter(organization=owner.org, user=outsider.user).exists()


def test_expired_invitation_fails_with_a_clear_message(
    client, owner, erin, mailoutbox, django_capture_on_commit_callbacks
):
    _invite(client, owner, django_capture_on_commit_callbacks)
    link = _link_path(mailoutbox[0].body)
    client.force_login(erin)
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.post(link)
    assert "This invitation has expired. Ask for a new one." in text(response)
    assert not Membership.objects.filter(organization=owner.org, user=erin).exists()


def test_revoked_and_unknown_links_fail_with_a_clear_message(
    client, owner, erin, mailoutbox, django_capture_on_commit_callbacks
):
    _invite(client, owner, django_capture_on_commit_callbacks)
    link = _link_path(mailoutbox[0].body)
    invitation = Invitation.objects.get(organization=owner.org)
    client.post(f"/orgs/acme/invitations/{invitation.uuid}/revoke/")
    assert "revoked" in text(client.get("/orgs/acme/invitations/"))
    client.force_login(erin)
    assert "This invitation was revoked." in text(client.post(link))
    response = client.post("/invitations/accept/dci_nonsense/")
    assert "This invitation link is not valid." in text(response)
    assert not Membership.objects.filter(organization=owner.org, user=erin).exists()


def test_anonymous_visitor_is_sent_to_login_and_back(client, db):
    response = client.get("/invitations/accept/dci_sometoken/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/invitations/accept/dci_sometoken/"
