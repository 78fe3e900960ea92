"""One table says who may do what; the API and the portal must both agree with it.

Every resource and verb is tried by every kind of caller: the owner, an admin, a member of a
`write` team, a member of a `read` team, a `read` member whose team was granted `use` of one
credential, the owner's and that grantee's read-only API keys, the owner's key restricted to
another organization,
an outsider and an anonymous caller. Keys exist only in the API; the portal has sessions.

Each call runs in a savepoint that is rolled back, so every call meets the same world. A caller
the table admits must get the verb's success answer; a member it refuses gets 403; anyone
outside the organization (or through a key for another) gets 404; the anonymous get 401 from
the API and the login page from the portal.
"""

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.audit import Actor
from accounts.models import Role
from containers.models import Container
from nodes import services as node_services
from nodes.models import Action, ActionState, ClusterState, Node, NodeCluster, NodeState
from nodes.transitions import actions as node_actions
from nodes.transitions import liveness
from providers import services as provider_services

from ..conftest import Person, make_key, make_user
from ..nodes.test_registration import FACTS, make_csr

pytestmark = pytest.mark.django_db

ADMINS = frozenset({"owner", "admin"})
WRITERS = ADMINS | {"writer"}
GRANTEES = WRITERS | {"grantee"}
MEMBERS = WRITERS | {"reader", "grantee", "ro_key", "grantee_ro_key"}
# Leaving acts on the user's own account: any member, never through a narrowed key.
LEAVERS = WRITERS | {"reader", "grantee"}
API_CALLERS = (
    "owner",
    "admin",
    "writer",
    "reader",
    "grantee",
    "ro_key",
    "grantee_ro_key",
    "other_org_key",
)
PORTAL_CALLERS = ("owner", "admin", "writer", "reader", "grantee")
OUTSIDE = ("outsider", "anon")

DO_REGION = "/api/infra/v1/region/digitalocean/ams3/"
DO_TYPE = "/api/infra/v1/nodetype/digitalocean/s-1vcpu-1gb/"
INFRA = "/api/infra/v1/acme/"
ORGS = "/api/v1/orgs/acme/"


@dataclass
class Case:
    """One verb on one object: who may, and the call each surface makes for it."""

    name: str
    allowed: frozenset
    api: tuple | None = None  # (method, path, body) with `{placeholders}` from the world
    portal: tuple | None = None
    portal_ok: tuple = (200, 302)
    api_ok: tuple = (200, 201, 202, 204)
    notes: str = field(default="", repr=False)


def _cluster_cases(label: str, key: str, allowed: frozenset) -> list[Case]:
    uri = f"{INFRA}nodecluster/{{{key}}}/"
    page = f"/orgs/acme/clusters/{{{key}}}/"
    return [
        Case(f"{label} view", MEMBERS, ("get", uri, None), ("get", page, None)),
        Case(
            f"{label} scale",
            allowed,
            ("patch", uri, {"target_num_nodes": 2}),
            ("post", page + "scale/", {"target_num_nodes": "2"}),
        ),
        Case(
            f"{label} tags",
            allowed,
            ("patch", uri, {"tags": ["blue"]}),
            ("post", page + "tags/", {"tags": "blue"}),
        ),
        Case(
            f"{label} upgrade",
            allowed,
            ("post", uri + "docker-upgrade/", None),
            ("post", page + "docker-upgrade/", None),
        ),
        Case(
            f"{label} terminate",
            allowed,
            ("delete", uri, None),
            ("post", page + "terminate/", None),
        ),
    ]


def _node_cases(label: str, key: str, grant_verbs: frozenset) -> list[Case]:
    uri = f"{INFRA}node/{{{key}}}/"
    page = f"/orgs/acme/nodes/{{{key}}}/"

    def who(verb: str) -> frozenset:
        return GRANTEES if verb in grant_verbs else WRITERS

    return [
        Case(f"{label} view", MEMBERS, ("get", uri, None), ("get", page, None)),
        Case(
            f"{label} edit",
            who("change"),
            ("patch", uri, {"nickname": "n1"}),
            ("post", page + "edit/", {"nickname": "n1", "tags": ""}),
        ),
        Case(
            f"{label} docker upgrade",
            who("upgrade"),
            ("post", uri + "docker-upgrade/", None),
            ("post", page + "docker-upgrade/", None),
        ),
        Case(
            f"{label} agent upgrade",
            who("agent_upgrade"),
            ("post", uri + "agent-upgrade/", None),
            ("post", page + "agent-upgrade/", None),
        ),
        Case(
            f"{label} health check",
            who("health_check"),
            ("post", uri + "health-check/", None),
            ("post", page + "health-check/", None),
        ),
        Case(
            f"{label} terminate",
            who("terminate"),
            ("delete", uri, None),
            ("post", page + "terminate/", None),
        ),
    ]


def _container_cases() -> list[Case]:
    """A container of the organization (no credential grant reaches containers)."""
    uri = "/api/app/v1/acme/container/{container}/"
    page = "/orgs/acme/containers/{container}/"
    run = {"name": "c2", "image": "local/busybox:lab", "node": "{byo_node}"}
    on_node = "/orgs/acme/nodes/{byo_node}/containers/" + "ab" * 32 + "/"
    return [
        Case("container view", MEMBERS, ("get", uri, None), ("get", page, None)),
        Case("container logs page", MEMBERS, None, ("get", page + "logs/", None)),
        Case(
            "run a container",
            WRITERS,
            ("post", "/api/app/v1/acme/container/", run),
            ("post", "/orgs/acme/containers/", run),
            portal_ok=(302,),  # the form re-renders (200) when the run is refused
        ),
        Case(
            "container stop", WRITERS, ("post", uri + "stop/", None), ("post", page + "stop/", None)
        ),
        Case(
            "container redeploy",
            WRITERS,
            ("post", uri + "redeploy/", None),
            ("post", page + "redeploy/", None),
        ),
        Case(
            "container terminate",
            WRITERS,
            ("delete", uri, None),
            ("post", page + "terminate/", None),
        ),
        # Any container of a node's daemon, from the node's containers page.
        *(
            Case(f"node's container {verb}", WRITERS, None, ("post", on_node + verb + "/", None))
            for verb in ("start", "stop", "restart", "remove")
        ),
    ]


def _create_cluster(label: str, credential_key: str, allowed: frozenset) -> Case:
    body = {"name": "c2", "region": DO_REGION, "node_type": DO_TYPE}
    form = {**body, "target_num_nodes": "1", "disk": "20"}
    return Case(
        f"create a cluster with {label}",
        allowed,
        ("post", f"{INFRA}nodecluster/", {**body, "credential": f"{{{credential_key}}}"}),
        ("post", "/orgs/acme/clusters/", {**form, "credential": f"{{{credential_key}}}"}),
        portal_ok=(302,),  # the form re-renders (200) when the create is refused
    )


CASES = [
    Case("organization view", MEMBERS, ("get", ORGS, None), ("get", "/orgs/acme/", None)),
    Case(
        "organization settings",
        ADMINS,
        ("patch", ORGS, {"display_name": "Acme"}),
        ("post", "/orgs/acme/", {"display_name": "Acme"}),
    ),
    Case(
        "add a member",
        ADMINS,
        ("post", ORGS + "members/", {"username": "zed"}),
        ("post", "/orgs/acme/members/", {"username": "zed", "role": "member"}),
    ),
    Case("audit log", ADMINS, ("get", ORGS + "audit/", None), ("get", "/orgs/acme/audit/", None)),
    Case(
        "node maintenance view",
        MEMBERS,
        ("get", ORGS + "maintenance/", None),
        ("get", "/orgs/acme/maintenance/", None),
    ),
    Case("node maintenance images", MEMBERS, ("get", ORGS + "maintenance/images/", None)),
    Case(
        "node maintenance settings",
        ADMINS,
        ("patch", ORGS + "maintenance/", {"ssh_user": "ops"}),
        ("post", "/orgs/acme/maintenance/", {"ssh_user": "ops"}),
        portal_ok=(302,),  # the form re-renders (200) when the change is refused
    ),
    Case(
        "leave the organization",
        LEAVERS,
        ("delete", ORGS + "members/{me}/", None),
        ("post", "/orgs/acme/members/{me}/remove/", None),
    ),
    Case(
        "registration token",
        WRITERS,
        ("post", INFRA + "token/", None),
        ("post", "/orgs/acme/nodes/token/", None),
    ),
    Case(
        "credential view",
        MEMBERS,
        ("get", ORGS + "credentials/{spare}/", None),
        ("get", "/orgs/acme/credentials/{spare}/", None),
    ),
    Case(
        "credential rename",
        WRITERS,
        ("patch", ORGS + "credentials/{spare}/", {"name": "renamed"}),
        ("post", "/orgs/acme/credentials/{spare}/", {"name": "renamed", "token": ""}),
        portal_ok=(302,),
    ),
    Case(
        "credential grants",
        ADMINS,
        ("patch", ORGS + "credentials/{spare}/", {"use_teams": ["deployers"]}),
        ("post", "/orgs/acme/credentials/{spare}/grants/", {"team": ["deployers"]}),
    ),
    Case(
        "credential delete",
        WRITERS,
        ("delete", ORGS + "credentials/{spare}/", None),
        ("post", "/orgs/acme/credentials/{spare}/delete/", None),
    ),
    _create_cluster("the granted credential", "granted_cred", GRANTEES),
    _create_cluster("another credential", "other_cred", WRITERS),
    Case(
        "deploy a granted cluster",
        GRANTEES,
        ("post", INFRA + "nodecluster/{granted_init}/deploy/", None),
        ("post", "/orgs/acme/clusters/{granted_init}/deploy/", None),
    ),
    Case(
        "deploy another cluster",
        WRITERS,
        ("post", INFRA + "nodecluster/{other_init}/deploy/", None),
        ("post", "/orgs/acme/clusters/{other_init}/deploy/", None),
    ),
    *_cluster_cases("granted cluster", "granted_cluster", GRANTEES),
    *_cluster_cases("another cluster", "other_cluster", WRITERS),
    *_node_cases("node of a granted cluster", "granted_node", frozenset({"upgrade", "terminate"})),
    *_node_cases("node of another cluster", "other_node", frozenset()),
    *_node_cases("BYO node", "byo_node", frozenset()),
    Case(
        "retry an upgrade of a granted node",
        GRANTEES,
        ("post", "/api/audit/v1/action/{failed_upgrade}/retry/", None),
    ),
    Case(
        "cancel an upgrade of a granted node",
        GRANTEES,
        ("post", "/api/audit/v1/action/{pending_upgrade}/cancel/", None),
    ),
    *_container_cases(),
    Case(
        "retry a health check of a granted node",
        WRITERS,
        ("post", "/api/audit/v1/action/{failed_check}/retry/", None),
    ),
]


# --- the world -----------------------------------------------------------------------------
def _member(owner: Person, username: str, *, role=Role.MEMBER, team=None) -> Person:
    user = make_user(username)
    by_owner = Actor(user=owner.user)
    account_services.membership_add(
        actor=by_owner, organization=owner.org, username=username, role=role
    )
    if team is not None:
        members = [u.username for u in team.members.all()] + [username]
        account_services.team_set_members(actor=by_owner, team=team, usernames=members)
    return Person(user=user, org=owner.org, key=make_key(user))


def _deployed_node(owner: Person, cluster: NodeCluster | None = None) -> Node:
    _, token = node_services.registration_token_create(
        actor=Actor(user=owner.user), organization=owner.org
    )
    node = node_services.node_register(
        token=token, csr=make_csr(), facts=FACTS, remote_ip="10.250.0.9"
    )["node"]
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    if cluster is not None:
        Node.objects.filter(pk=node.pk).update(node_cluster=cluster, provider="digitalocean")
    node.refresh_from_db()
    return node


def _cluster(owner: Person, credential, name: str, state: str) -> NodeCluster:
    return NodeCluster.objects.create(
        organization=owner.org,
        name=name,
        provider="digitalocean",
        region="ams3",
        node_type="s-1vcpu-1gb",
        credential=credential,
        state=state,
        target_num_nodes=1,
    )


def _action(owner: Person, node: Node, name: str, state: str) -> Action:
    act = node_actions.action_create(
        actor=Actor(user=owner.user),
        organization=owner.org,
        action=name,
        object_uri=f"{INFRA}node/{node.uuid}/",
        object_uuid=node.uuid,
    )
    Action.objects.filter(pk=act.pk).update(state=state)
    return act


@pytest.fixture
def world(owner, readonly_member, writer, outsider, do_api, do_token):
    by_owner = Actor(user=owner.user)
    make_user("zed")
    _member(owner, "olga", role=Role.OWNER)  # so the owner may leave: not the last one
    admin = _member(owner, "adam", role=Role.ADMIN)

    def credential(name: str):
        return provider_services.credential_create(
            actor=by_owner,
            organization=owner.org,
            provider="digitalocean",
            name=name,
            fields={"token": do_token},
        )

    granted, other, spare = credential("granted"), credential("other"), credential("spare")
    grantee = _member(owner, "gina", team=owner.org.teams.create(name="ops", permission="read"))
    provider_services.credential_grants_set(actor=by_owner, credential=granted, teams=["ops"])

    granted_cluster = _cluster(owner, granted, "g1", ClusterState.DEPLOYED)
    other_cluster = _cluster(owner, other, "o1", ClusterState.DEPLOYED)
    granted_node = _deployed_node(owner, granted_cluster)
    other_node = _deployed_node(owner, other_cluster)
    byo_node = _deployed_node(owner)
    ids = {
        "granted_cred": granted.uuid,
        "other_cred": other.uuid,
        "spare": spare.uuid,
        "granted_cluster": granted_cluster.uuid,
        "other_cluster": other_cluster.uuid,
        "granted_init": _cluster(owner, granted, "g0", ClusterState.INIT).uuid,
        "other_init": _cluster(owner, other, "o0", ClusterState.INIT).uuid,
        "granted_node": granted_node.uuid,
        "other_node": other_node.uuid,
        "byo_node": byo_node.uuid,
        "failed_upgrade": _action(
            owner, granted_node, "Node Upgrade Docker", ActionState.FAILED
        ).uuid,
        "pending_upgrade": _action(
            owner, granted_node, "Node Upgrade Docker", ActionState.PENDING
        ).uuid,
        "failed_check": _action(owner, granted_node, "Node Health Check", ActionState.FAILED).uuid,
    }
    Action.objects.filter(uuid=ids["pending_upgrade"]).update(can_be_canceled=True)
    ids["container"] = Container.objects.create(
        organization=owner.org, name="c1", image="local/busybox:lab", node=byo_node
    ).uuid
    Container.objects.filter(uuid=ids["container"]).update(state="Running")
    # The owner also belongs to another organization; this key of theirs is restricted to it.
    elsewhere = account_services.organization_create(actor=by_owner, name="initech")
    people = {
        "owner": owner,
        "admin": admin,
        "writer": writer,
        "reader": readonly_member,
        "grantee": grantee,
        "ro_key": Person(owner.user, owner.org, make_key(owner.user, read_only=True)),
        # A read-only key changes nothing, whatever its user may do through a grant.
        "grantee_ro_key": Person(grantee.user, owner.org, make_key(grantee.user, read_only=True)),
        "other_org_key": Person(
            owner.user, owner.org, make_key(owner.user, organization=elsewhere)
        ),
        "outsider": outsider,
    }
    assert Node.objects.filter(state=NodeState.DEPLOYED).count() == 3
    return people, ids


def _fill(value, ids: dict, me: str):
    if isinstance(value, str):
        return value.format(me=me, **ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids, me) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_fill(v, ids, me) for v in value)
    return value


def _expected(caller: str, case: Case) -> str:
    if caller == "anon":
        return "login"
    if caller in ("outsider", "other_org_key"):
        return "hidden"
    return "ok" if caller in case.allowed else "forbidden"


def _api_outcome(status: int, case: Case) -> str:
    return {401: "login", 403: "forbidden", 404: "hidden"}.get(
        status, "ok" if status in case.api_ok else f"HTTP {status}"
    )


def _portal_outcome(response, case: Case) -> str:
    if response.status_code == 302 and "/login/" in response["Location"]:
        return "login"
    return {403: "forbidden", 404: "hidden"}.get(
        response.status_code,
        "ok" if response.status_code in case.portal_ok else f"HTTP {response.status_code}",
    )


def _once(call, *args, **kwargs):
    """Run one call in a savepoint rolled back after it: every call meets the same world."""
    with transaction.atomic():
        result = call(*args, **kwargs)
        transaction.set_rollback(True)
    return result


def _check(caller: str, surface: str, people: dict, ids: dict) -> list[str]:
    person = people.get(caller)
    me = person.username if person else "nobody"
    if surface == "api":
        client = person.client() if person else APIClient()
    else:
        client = Client()
        if person:
            client.force_login(person.user)
    wrong = []
    for case in CASES:
        spec = getattr(case, surface)
        if spec is None:
            continue
        method, path, body = _fill(spec, ids, me)
        if surface == "api":
            response = _once(getattr(client, method), path, body, format="json")
            got = _api_outcome(response.status_code, case)
        else:
            response = _once(getattr(client, method), path, body or {})
            got = _portal_outcome(response, case)
        want = _expected(caller, case)
        if got != want:
            wrong.append(f"{surface} {caller}: {case.name}: want {want}, got {got} ({path})")
    return wrong


@pytest.mark.parametrize("caller", API_CALLERS + OUTSIDE)
def test_the_api_agrees_with_the_table(world, caller):
    people, ids = world
    wrong = _check(caller, "api", people, ids)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("caller", PORTAL_CALLERS + OUTSIDE)
def test_the_portal_agrees_with_the_table(world, caller):
    people, ids = world
    wrong = _check(caller, "portal", people, ids)
    assert not wrong, "\n".join(wrong)
