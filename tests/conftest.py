"""Shared fixtures: three actors (owner, read-only member, outsider) and API clients."""

import base64
import os
import socket
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.db import connections
from rest_framework.test import APIClient

from accounts import services
from accounts.audit import Actor
from accounts.models import Organization, User

pytest_plugins = ["lab.pytest_plugin"]

# One encryption key for this test process and the control planes it starts (tests/e2e).
os.environ.setdefault("DC_ENCRYPTION_KEYS", Fernet.generate_key().decode())
# And one signing key: what a control plane signs, the test checks with the same key.
os.environ.setdefault("DC_SIGNING_KEY", django_settings.DC_SIGNING_KEY)

PASSWORD = "correct horse battery staple 42"


@dataclass
class Person:
    user: User
    org: Organization  # the organization this person is in for the test
    key: str  # a full-access API key

    @property
    def username(self) -> str:
        return self.user.username

    def client(self, key: str | None = None) -> APIClient:
        """An API client authenticated like the Docker Cloud clients: Basic user:apikey."""
        client = APIClient()
        raw = f"{self.user.username}:{key or self.key}".encode()
        client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(raw).decode())
        return client


def make_user(username: str) -> User:
    return services.user_signup(
        username=username, email=f"{username}@example.com", password=PASSWORD
    )


def make_key(user: User, **kwargs) -> str:
    _, plaintext = services.apikey_create(
        actor=Actor(user=user), user=user, label=kwargs.pop("label", "test"), **kwargs
    )
    return plaintext


@pytest.fixture
def owner(db) -> Person:
    """Owner of the organization `acme`."""
    user = make_user("alice")
    org = services.organization_create(actor=Actor(user=user), name="acme")
    return Person(user=user, org=org, key=make_key(user))


@pytest.fixture
def readonly_member(owner) -> Person:
    """A member of `acme` in a team with read permission."""
    user = make_user("bob")
    services.membership_add(actor=Actor(user=owner.user), organization=owner.org, username="bob")
    team = services.team_create(
        actor=Actor(user=owner.user), organization=owner.org, name="viewers", permission="read"
    )
    services.team_set_members(actor=Actor(user=owner.user), team=team, usernames=["bob"])
    return Person(user=user, org=owner.org, key=make_key(user))


@pytest.fixture
def writer(owner) -> Person:
    """A member of `acme` in a team with write permission."""
    user = make_user("dave")
    services.membership_add(actor=Actor(user=owner.user), organization=owner.org, username="dave")
    team = services.team_create(
        actor=Actor(user=owner.user), organization=owner.org, name="deployers", permission="write"
    )
    services.team_set_members(actor=Actor(user=owner.user), team=team, usernames=["dave"])
    return Person(user=user, org=owner.org, key=make_key(user))


@pytest.fixture
def outsider(db) -> Person:
    """Owner of another organization, `globex`; no membership in `acme`."""
    user = make_user("carol")
    org = services.organization_create(actor=Actor(user=user), name="globex")
    return Person(user=user, org=org, key=make_key(user))


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def database_cut(transactional_db):
    """A real database outage: `database_cut(True)` points the connection at a port nothing
    listens on (connecting is refused), `database_cut(False)` gives it back; undone at the
    end. For PostgreSQL only (SQLite has no server to lose)."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # closed again: nothing listens there

    def toggle(down: bool):
        connection.close()
        if connection.pool:  # its connections were made with the old address
            connection.close_pool()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        if down:
            connection.settings_dict.update(HOST="127.0.0.1", PORT=str(dead_port))

    yield toggle
    toggle(False)
