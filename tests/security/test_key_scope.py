"""API keys narrowed to reading, or to one organization, cannot act on their user's account:
they neither join organizations (accept an invitation) nor leave them."""

import pytest

from accounts import services
from accounts.audit import Actor

from ..conftest import Person, make_key, make_user

pytestmark = pytest.mark.django_db
ACCEPT = "/api/v1/invitations/accept/"


def _invite(owner, email: str) -> str:
    response = owner.client().post(
        "/api/v1/orgs/acme/invitations/", {"email": email, "role": "member"}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["token"]


@pytest.mark.parametrize("scope", ["read_only", "restricted"])
def test_a_narrowed_key_cannot_accept_an_invitation(owner, outsider, scope):
    hal = make_user("hal")
    if scope == "read_only":
        key = make_key(hal, read_only=True)
    else:
        mine = services.organization_create(actor=Actor(user=hal), name="halcorp")
        key = make_key(hal, organization=mine)
    token = _invite(owner, "hal@example.com")

    response = Person(hal, owner.org, key).client().post(ACCEPT, {"token": token}, format="json")

    assert response.status_code == 403
    assert not owner.org.memberships.filter(user=hal).exists()
    # The invitation is still good for the user's full key.
    full = Person(hal, owner.org, make_key(hal)).client()
    assert full.post(ACCEPT, {"token": token}, format="json").status_code == 200


@pytest.mark.parametrize("scope", ["read_only", "restricted"])
def test_a_narrowed_key_cannot_leave_the_organization(owner, readonly_member, scope):
    bob = readonly_member
    key = (
        make_key(bob.user, read_only=True)
        if scope == "read_only"
        else make_key(bob.user, organization=owner.org)
    )
    response = (
        Person(bob.user, owner.org, key)
        .client()
        .delete(f"/api/v1/orgs/acme/members/{bob.username}/")
    )
    assert response.status_code == 403
    assert owner.org.memberships.filter(user=bob.user).exists()
    # With a full key, leaving is the member's own right.
    assert bob.client().delete(f"/api/v1/orgs/acme/members/{bob.username}/").status_code == 204
