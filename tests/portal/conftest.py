"""Portal fixtures: acme's objects, and a page's text without markup."""

import html
import re
from dataclasses import dataclass

import pytest

from accounts import services
from accounts.audit import Actor
from accounts.models import ApiKey, Invitation, Team, User
from tests.conftest import make_user


@dataclass
class AcmeObjects:
    team: Team
    invitation: Invitation
    account: User  # a service account
    account_key: ApiKey


@pytest.fixture
def acme(owner, readonly_member) -> AcmeObjects:
    """A team, a pending invitation and a service account with a key, all in `acme`."""
    actor = Actor(user=owner.user)
    team = services.team_create(actor=actor, organization=owner.org, name="ops")
    invitation, _ = services.invitation_create(
        actor=actor, organization=owner.org, email="x@example.com", accept_url="http://t/{token}"
    )
    account = services.service_account_create(actor=actor, organization=owner.org, name="ci")
    key, _ = services.apikey_create(
        actor=actor, user=account, label="deploy", organization=owner.org
    )
    return AcmeObjects(team=team, invitation=invitation, account=account, account_key=key)


@pytest.fixture
def erin(db) -> User:
    """A user in no organization but her own."""
    return make_user("erin")


def text(response) -> str:
    """The visible text of a page: tags become spaces, entities are decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]*>", " ", response.content.decode())))
