"""Every list endpoint answers a page in the same number of queries at 10 rows as at 200: no
query per row (a fleet of 100,000 nodes must not cost 100,000 queries, nor 25 per page)."""

import secrets
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import (
    ApiKey,
    AuditEntry,
    Invitation,
    Membership,
    Organization,
    SshKey,
    Team,
    User,
)
from agentapi.models import SshInstall
from maintenance.models import ImageRemoval, NodeMaintenance
from nodes.models import Action, DockerEvent, Node, NodeCluster
from providers.models import Credential

pytestmark = pytest.mark.django_db


def _name() -> str:
    return f"x{secrets.token_hex(6)}"


def _nodes(person, n):
    clusters = [
        NodeCluster.objects.create(
            organization=person.org, name=f"c{i}", provider="local", region="lab", node_type="s"
        )
        for i in range(3)
    ]
    Node.objects.bulk_create(
        Node(
            organization=person.org,
            hostname=f"n{i}",
            node_cluster=clusters[i % 3] if i % 2 else None,
            tags=[{"name": "t"}],
        )
        for i in range(n)
    )


def _clusters(person, n):
    NodeCluster.objects.bulk_create(
        NodeCluster(
            organization=person.org, name=f"c{i}", provider="local", region="lab", node_type="s"
        )
        for i in range(n)
    )
    for cluster in NodeCluster.objects.all()[:5]:  # a few with nodes
        Node.objects.create(organization=person.org, node_cluster=cluster)


def _actions(person, n):
    Action.objects.bulk_create(
        Action(organization=person.org, action="Node Update", user=person.user) for _ in range(n)
    )


def _events(person, n):
    node = Node.objects.create(organization=person.org)
    now = timezone.now()
    DockerEvent.objects.bulk_create(
        DockerEvent(
            organization=person.org, node=node if i % 2 else None, seq=i + 1 if i % 2 else None,
            type="container", action="start", time=now - timedelta(seconds=i),
        )
        for i in range(n)
    )  # fmt: skip


def _audit(person, n):
    AuditEntry.objects.bulk_create(
        AuditEntry(
            organization=person.org, actor=person.user, actor_name="alice", action="x.y",
            object_type="node",
        )
        for _ in range(n)
    )  # fmt: skip


def _credentials(person, n):
    Credential.objects.bulk_create(
        Credential(organization=person.org, provider="aws", name=_name()) for _ in range(n)
    )


def _users(n):
    return User.objects.bulk_create(User(username=f"u{secrets.token_hex(6)}") for _ in range(n))


def _members(person, n):
    Membership.objects.bulk_create(
        Membership(organization=person.org, user=user) for user in _users(n)
    )


def _teams(person, n):
    users = _users(3)
    for i in range(n):
        team = Team.objects.create(organization=person.org, name=_name())
        if i < 5:
            team.members.set(users)


def _invitations(person, n):
    Invitation.objects.bulk_create(
        Invitation(
            organization=person.org, email=f"x{i}@example.com", token_digest=secrets.token_hex(),
            invited_by=person.user, expires_at=timezone.now() + timedelta(days=1),
        )
        for i in range(n)
    )  # fmt: skip


def _sshkeys(person, n):
    SshKey.objects.bulk_create(
        SshKey(user=person.user, label="k", public_key="ssh-ed25519 AAAA", fingerprint=_name())
        for _ in range(n)
    )


def _orgs(person, n):
    orgs = Organization.objects.bulk_create(Organization(name=_name()) for _ in range(n))
    Membership.objects.bulk_create(
        Membership(organization=org, user=person.user, role="owner") for org in orgs
    )


def _service_accounts(person, n):
    users = User.objects.bulk_create(
        User(username=_name(), service_org=person.org) for _ in range(n)
    )
    Membership.objects.bulk_create(Membership(organization=person.org, user=u) for u in users)


def _apikeys(person, n):
    ApiKey.objects.bulk_create(
        ApiKey(user=person.user, label="k", prefix=secrets.token_hex(6), digest="0" * 64)
        for _ in range(n)
    )


def _byo_ssh(person, n):
    for _ in range(n):
        action = Action.objects.create(organization=person.org, action="Node Install Over SSH")
        SshInstall.objects.create(
            organization=person.org, created_by=person.user, host="10.0.0.9", username="root",
            auth_method="password", base_url="http://cp", action=action,
        )  # fmt: skip


def _maintained(person, n):
    start = Node.objects.count()
    Node.objects.bulk_create(
        Node(organization=person.org, hostname=f"m{start + i}", clock_skew=2.0) for i in range(n)
    )
    nodes = Node.objects.filter(organization=person.org, maintenance__isnull=True)
    image = {"id": "sha256:a", "tags": ["old:1"], "size": 5, "unused_seconds": 4000}
    NodeMaintenance.objects.bulk_create(
        NodeMaintenance(node=node, clock_flagged=True, images_candidates=[image]) for node in nodes
    )
    ImageRemoval.objects.bulk_create(
        ImageRemoval(organization=person.org, node=node, node_name=node.hostname, image_id="x")
        for node in nodes
    )


LISTS = {
    "/api/infra/v1/acme/node/": _nodes,
    "/api/infra/v1/acme/nodecluster/": _clusters,
    "/api/audit/v1/action/": _actions,
    "/api/v1/orgs/acme/events/": _events,
    "/api/v1/orgs/acme/audit/": _audit,
    "/api/v1/orgs/acme/credentials/": _credentials,
    "/api/v1/orgs/acme/members/": _members,
    "/api/v1/orgs/acme/teams/": _teams,
    "/api/v1/orgs/acme/invitations/": _invitations,
    "/api/v1/user/sshkeys/": _sshkeys,
    "/api/v1/user/apikeys/": _apikeys,
    "/api/v1/orgs/": _orgs,
    "/api/v1/orgs/acme/service-accounts/": _service_accounts,
    "/api/v1/orgs/acme/byo-ssh/": _byo_ssh,
}


def _queries(person, path: str) -> int:
    client = person.client()
    client.get(path)  # the key's first use of the minute records it: not a page's cost
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, {"limit": 1000})
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.mark.parametrize("path", LISTS)
def test_a_page_costs_the_same_queries_at_10_and_200_rows(owner, path):
    grow = LISTS[path]
    grow(owner, 10)
    small = _queries(owner, path)
    grow(owner, 190)
    rows = len(owner.client().get(path, {"limit": 1000}).json()["objects"])
    assert rows >= 200
    assert _queries(owner, path) == small


PAGES = {
    "/orgs/acme/nodes/": _nodes,
    # filtered, searched and sorted: still one count and one page of rows
    "/orgs/acme/nodes/?state=Deploying&tag=t&q=n&connection=unknown&sort=name&order=asc": _nodes,
    "/orgs/acme/nodes/?cluster=none&sort=last_seen&page=2": _nodes,
    "/orgs/acme/nodes/?state=Exploded&sort=state": _nodes,
    "/orgs/acme/maintenance/": _maintained,
    "/orgs/acme/clusters/": _clusters,
    "/orgs/acme/members/": _members,
    "/orgs/acme/teams/": _teams,
    "/orgs/acme/invitations/": _invitations,
    "/orgs/acme/audit/": _audit,
    "/orgs/acme/service-accounts/": _service_accounts,
    "/orgs/acme/credentials/": _credentials,
    "/orgs/acme/events/": _events,
    "/settings/apikeys/": _apikeys,
    "/settings/sshkeys/": _sshkeys,
    "/": _orgs,
}


def _page_queries(client, path: str) -> int:
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    return len(captured)


@pytest.mark.parametrize("path", PAGES)
def test_a_portal_list_costs_the_same_queries_at_10_and_200_rows(client, owner, path):
    client.force_login(owner.user)
    grow = PAGES[path]
    grow(owner, 10)
    small = _page_queries(client, path)
    grow(owner, 190)
    assert _page_queries(client, path) == small


def test_a_large_list_keeps_its_count_but_next_follows_the_rows(owner, settings):
    """Past DC_LIST_COUNT_CACHE_MIN rows the count is kept a few seconds (counting 100,000
    nodes for every page costs more than the page); `next` is read with the page, never
    from that count, so a client paging through misses no row."""
    settings.DC_LIST_COUNT_CACHE_MIN = 5
    _nodes(owner, 6)
    client = owner.client()
    assert client.get("/api/infra/v1/acme/node/").json()["meta"]["total_count"] == 6
    _nodes(owner, 2)  # 8 now: the kept count still says 6

    first = client.get("/api/infra/v1/acme/node/", {"limit": 2}).json()["meta"]
    assert first["total_count"] == 6
    meta = client.get("/api/infra/v1/acme/node/", {"limit": 2, "offset": 4}).json()["meta"]
    assert meta["next"] == "/api/infra/v1/acme/node/?limit=2&offset=6"  # rows 7 and 8 exist
    last = client.get("/api/infra/v1/acme/node/", {"limit": 2, "offset": 6}).json()
    assert len(last["objects"]) == 2 and last["meta"]["next"] is None
    assert last["meta"]["total_count"] == 8  # what the page itself saw
    beyond = client.get("/api/infra/v1/acme/node/", {"limit": 2, "offset": 50}).json()
    assert beyond["objects"] == [] and beyond["meta"]["total_count"] == 8

    settings.DC_LIST_COUNT_CACHE_MIN = 10_000  # small lists are counted every time
    _nodes(owner, 1)
    assert client.get("/api/audit/v1/action/").json()["meta"]["total_count"] == 0
    _actions(owner, 3)
    assert client.get("/api/audit/v1/action/").json()["meta"]["total_count"] == 3
