"""The overlay's records: subnets that never overlap (even allocated at once), a clear error
when the pool is spent, container addresses clear of docker's own range, join tokens sealed
and never shown, and the read-only API and node page within the organization."""

import ipaddress
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest
from django.db import connection
from django.test import Client

from accounts import services as account_services
from accounts.audit import Actor
from nodes.models import Node
from overlay import peers, swarm, tokens
from overlay.addresses import (
    OverlayFull,
    address_allocate,
    docker_range,
    overlay_ensure,
    swarm_pool,
)
from overlay.models import MemberStatus, OrgOverlay, OverlayMember
from overlay.services import OverlayUnavailable, network_attach, org_lock, overlay_reconcile
from providers.crypto import data_key_rotate, org_encrypt

from ..conftest import make_user

WORKER_TOKEN = "SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz-worker"
MANAGER_TOKEN = "SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz-manager"


def _org(name: str):
    user = make_user(f"{name}-op")
    return account_services.organization_create(actor=Actor(user=user), name=name)


def _node(org, ip: str = "192.0.2.10", state: str = "Deployed") -> Node:
    return Node.objects.create(organization=org, state=state, public_ip=ip, hostname="n1")


def _sealed(org) -> OrgOverlay:
    overlay = overlay_ensure(organization=org)
    overlay.worker_token_encrypted = org_encrypt(org, WORKER_TOKEN)
    overlay.manager_token_encrypted = org_encrypt(org, MANAGER_TOKEN)
    overlay.save()
    return overlay


@pytest.mark.django_db
def test_subnets_of_organizations_never_overlap(settings):
    subnets = [ipaddress.ip_network(overlay_ensure(organization=_org(f"o{i}")).subnet)
               for i in range(6)]  # fmt: skip
    assert all(s.prefixlen == settings.DC_OVERLAY_PREFIX for s in subnets)
    assert all(s.subnet_of(ipaddress.ip_network(settings.DC_OVERLAY_POOL)) for s in subnets)
    for i, a in enumerate(subnets):
        assert not a.overlaps(swarm_pool())  # docker's own networks (ingress) stay apart
        for b in subnets[i + 1 :]:
            assert not a.overlaps(b)
    # Asked again, an organization keeps its subnet.
    first = OrgOverlay.objects.order_by("pk").first()
    assert overlay_ensure(organization=first.organization).subnet == first.subnet


@pytest.mark.django_db(transaction=True)
def test_subnets_allocated_at_once_never_overlap():
    orgs = [_org(f"c{i}") for i in range(8)]

    def allocate(org):
        try:
            return overlay_ensure(organization=org).subnet
        finally:
            connection.close()  # each thread's own connection

    with ThreadPoolExecutor(8) as pool:
        subnets = list(pool.map(allocate, orgs))
    assert len(set(subnets)) == 8
    nets = [ipaddress.ip_network(s) for s in subnets]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert OrgOverlay.objects.count() == 8


@pytest.mark.django_db
def test_a_spent_pool_is_a_clear_error(settings):
    settings.DC_OVERLAY_POOL, settings.DC_OVERLAY_PREFIX = "10.99.0.0/22", 24
    for i in range(3):  # four /24s, the last kept for the swarms' own networks
        overlay_ensure(organization=_org(f"p{i}"))
    late = _org("late")
    with pytest.raises(OverlayFull, match=r"no subnet left in DC_OVERLAY_POOL 10\.99\.0\.0/22"):
        overlay_ensure(organization=late)
    with pytest.raises(OverlayUnavailable, match="^overlay: no subnet left"):
        network_attach(node=_node(late))


@pytest.mark.django_db
def test_container_addresses_stay_clear_of_the_gateway_and_dockers_range(settings):
    settings.DC_OVERLAY_POOL, settings.DC_OVERLAY_PREFIX = "10.99.0.0/24", 27
    org = _org("small")
    overlay = overlay_ensure(organization=org)
    reserved = docker_range(overlay.subnet)
    given = [address_allocate(organization=org, holder=uuid.uuid4()) for _ in range(22)]
    assert len(set(given)) == 22 and overlay.gateway not in given
    assert not any(ipaddress.ip_address(a) in reserved for a in given)
    with pytest.raises(OverlayFull, match="no address left"):
        address_allocate(organization=org, holder=uuid.uuid4())


@pytest.mark.django_db
def test_network_attach_refuses_a_node_that_is_not_deployed():
    org = _org("idle")
    with pytest.raises(OverlayUnavailable, match="^overlay: the node is Unreachable"):
        network_attach(node=_node(org, state="Unreachable"))


@pytest.mark.django_db
def test_join_tokens_are_sealed_and_survive_a_data_key_rotation():
    org = _org("sealed")
    overlay = _sealed(org)
    stored = OrgOverlay.objects.values_list(
        "worker_token_encrypted", "manager_token_encrypted"
    ).get(pk=overlay.pk)
    assert not any("SWMTKN" in value for value in stored)
    data_key_rotate(org)
    overlay.refresh_from_db()
    assert overlay.worker_token_encrypted != stored[0]
    assert tokens.worker(overlay) == WORKER_TOKEN


class _Refusing:
    """A daemon that quotes the token it was given in its refusal."""

    class swarm:  # noqa: N801 (the SDK's attribute name)
        @staticmethod
        def join(**kwargs):
            raise docker.errors.APIError("refused", explanation=f"bad token {kwargs['join_token']}")


@pytest.mark.django_db
def test_a_failed_join_never_shows_or_logs_the_token(caplog):
    org = _org("quiet")
    overlay = _sealed(org)
    node = _node(org)
    member = OverlayMember.objects.create(node=node, overlay=overlay, status=MemberStatus.JOINING)
    seen = swarm.Seen(node=node, member=member, client=_Refusing(), swarm={})
    leader = swarm.Seen(node=_node(org, ip="192.0.2.11"), member=member)
    with caplog.at_level(logging.DEBUG):
        swarm._join(overlay, seen, leader)
    member.refresh_from_db()
    assert member.status == MemberStatus.UNREACHABLE
    assert "[token]" in member.reason and WORKER_TOKEN not in member.reason
    assert WORKER_TOKEN not in caplog.text and "SWMTKN" not in caplog.text


@pytest.mark.django_db
def test_the_overlay_api_shows_the_organizations_own_members(owner, readonly_member, outsider):
    overlay = _sealed(owner.org)
    node = _node(owner.org)
    OverlayMember.objects.create(
        node=node, overlay=overlay, status=MemberStatus.UNREACHABLE, manager=True,
        reason="overlay: cannot reach 192.0.2.11:2377",
    )  # fmt: skip
    answer = readonly_member.client().get("/api/infra/v1/acme/overlay/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["subnet"] == overlay.subnet and body["network"] == overlay.network_name
    assert body["members"] == [
        {
            "node": f"/api/infra/v1/acme/node/{node.uuid}/",
            "role": "manager",
            "status": "Unreachable",
            "reason": "overlay: cannot reach 192.0.2.11:2377",
        }
    ]
    # Without a namespace: the caller's own (personal) organization, which has none yet.
    personal = owner.client().get("/api/infra/v1/overlay/").json()
    assert personal == {
        "subnet": None, "gateway": None, "encrypted": None, "network": None, "members": [],
    }  # fmt: skip
    assert "SWMTKN" not in answer.content.decode()
    assert "token" not in answer.content.decode()


@pytest.mark.django_db
def test_another_organization_sees_only_its_own_overlay(owner, outsider):
    ours = _sealed(owner.org)
    node = _node(owner.org)
    OverlayMember.objects.create(node=node, overlay=ours, status=MemberStatus.READY)
    theirs = overlay_ensure(organization=outsider.org)
    refused = outsider.client().get("/api/infra/v1/acme/overlay/")
    assert refused.status_code == 404
    own = outsider.client().get("/api/infra/v1/globex/overlay/")
    assert own.status_code == 200
    assert own.json() == {
        "subnet": theirs.subnet, "gateway": theirs.gateway, "encrypted": theirs.encrypted,
        "network": theirs.network_name, "members": [],
    }  # fmt: skip
    personal = outsider.client().get("/api/infra/v1/overlay/")
    for answer in (refused, own, personal):
        text = answer.content.decode()
        assert ours.subnet not in text and str(node.uuid) not in text


@pytest.mark.django_db
def test_the_node_page_shows_its_place_in_the_overlay(owner):
    overlay = _sealed(owner.org)
    node = _node(owner.org)
    OverlayMember.objects.create(
        node=node, overlay=overlay, status=MemberStatus.UNREACHABLE,
        reason="overlay: cannot reach 192.0.2.11:7946",
    )  # fmt: skip
    browser = Client()
    browser.force_login(owner.user)
    page = browser.get(f"/orgs/acme/nodes/{node.uuid}/").content.decode()
    assert "Overlay network" in page and "overlay: cannot reach 192.0.2.11:7946" in page
    assert overlay.subnet in page and "swarm worker" in page
    assert "SWMTKN" not in page


def test_a_port_no_peer_reaches_names_its_owner_not_its_peers():
    addresses = {"a": "10.0.0.1", "b": "10.0.0.2", "c": "10.0.0.3"}
    managers = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    closed = {"a": ["10.0.0.3:7946"], "b": ["10.0.0.3:7946"]}
    assert peers.blame(addresses, managers, closed) == {"c": "overlay: cannot reach 10.0.0.3:7946"}
    # One node alone failing to reach what the others reach: its own way out is closed.
    outbound = {"c": ["10.0.0.1:7946", "10.0.0.2:2377"]}
    assert peers.blame(addresses, managers, outbound) == {
        "c": "overlay: cannot reach 10.0.0.1:7946 (and 1 more)"
    }
    assert peers.blame(addresses, managers, {}) == {}


@pytest.mark.django_db
def test_one_pass_at_a_time_on_an_organizations_swarm():
    org = _org("locked")
    other = _org("free")
    with org_lock(org.pk) as held:
        assert held
        with org_lock(org.pk, wait=0.5) as second:  # another worker: waits, then gives up
            assert not second
        assert overlay_reconcile(organization=org) is None  # nothing done meanwhile
        with org_lock(other.pk) as elsewhere:  # other organizations are not held up
            assert elsewhere
    assert overlay_reconcile(organization=org) is not None  # released: a pass (no nodes)


@pytest.mark.django_db
def test_a_member_whose_node_is_away_says_so_and_an_ended_one_left():
    org = _org("away")
    overlay = overlay_ensure(organization=org)
    away = _node(org, state="Unreachable")
    ended = _node(org, ip="192.0.2.12", state="Terminated")
    for node in (away, ended):
        OverlayMember.objects.create(node=node, overlay=overlay, status=MemberStatus.READY)
    overlay_reconcile(organization=org)
    assert OverlayMember.objects.get(node=away).reason == "overlay: the node is Unreachable"
    assert OverlayMember.objects.get(node=ended).status == MemberStatus.LEFT
