"""Heartbeats write no row each: the liveness store keeps them, a flush writes them in one
statement, the sweep reads the store; a reconnect asks a probe only of a node that needs one."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nodes import liveness_store
from nodes import services as node_services
from nodes.models import Node
from nodes.transitions import liveness

BEAT = {
    "time": 1_700_000_000.0,
    "load": [0.5, 0.25, 0.1],
    "memory": {"total_mb": 2048, "available_mb": 1024},
    "disk": {"total_gb": 40.0, "free_gb": 30.5},
    "containers": {"running": 1, "total": 3},
    "docker_version": "24.0.7",
    "dockerd_running": True,
}
pytestmark = pytest.mark.django_db


@pytest.fixture(params=["redis", "embedded"])
def store(request, monkeypatch):
    """The store production uses (Redis) and the embedded default's (this process's memory)."""
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs REDIS_URL")
        kept = liveness_store.RedisStore(f"test-{id(request)}")
    else:
        kept = liveness_store.MemoryStore()
    monkeypatch.setattr(liveness_store, "_store", kept)
    yield kept
    if request.param == "redis":
        kept.redis.delete(kept.pending_key, kept.deadline_key)


@pytest.fixture
def probes(monkeypatch):
    queued = []
    monkeypatch.setattr("nodes.tasks.probe_node.delay", queued.append)
    return queued


def deployed(owner, hostname="web-1", **fields) -> Node:
    node = Node.objects.create(organization=owner.org, hostname=hostname, heartbeat_interval=15)
    liveness.node_set_reached(node_id=node.pk, connection="direct")
    Node.objects.filter(pk=node.pk).update(**fields)
    return Node.objects.get(pk=node.pk)


def test_a_heartbeat_is_no_row_write_and_a_flush_writes_many_in_one_statement(owner, store):
    nodes = [deployed(owner, f"web-{i}", last_seen=None, last_metric={}) for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        for i, node in enumerate(nodes):
            metric = liveness.node_heartbeat(node=node, beat=BEAT | {"containers": {"total": i}})
    assert len(queries) == 0
    assert metric["memory"] == {"total_mb": 2048, "available_mb": 1024}
    assert Node.objects.filter(pk__in=[n.pk for n in nodes], last_seen=None).count() == 3

    with CaptureQueriesContext(connection) as queries:
        assert liveness.nodes_flush_liveness() == 3
    assert [q["sql"].split()[0] for q in queries] == ["UPDATE"]
    for i, node in enumerate(nodes):
        node.refresh_from_db()
        assert node.last_seen and node.unreachable_after > timezone.now() + timedelta(seconds=40)
        assert node.current_num_containers == i and node.docker_version == "24.0.7"
        assert node.last_metric["disk"] == {"total_gb": 40.0, "free_gb": 30.5}
    assert liveness.nodes_flush_liveness() == 0  # taken: nothing twice


def test_a_flush_keeps_the_bounds_on_what_an_agent_sends(owner, store):
    node = deployed(owner)
    junk = BEAT | {
        "load": [1e300, -1, "x"],
        "memory": {"total_mb": float("inf"), "available_mb": True},
        "containers": {"total": 2**40},
        "docker_version": "d" * 500,
        "time": float("nan"),
    }
    liveness.node_heartbeat(node=node, beat=junk)
    liveness.nodes_flush_liveness()
    node.refresh_from_db()
    assert node.last_metric["load"] == [None, None, None]
    assert node.last_metric["memory"] == {"total_mb": None, "available_mb": None}
    assert node.current_num_containers == 2**31 - 1 and node.docker_version == "d" * 64
    assert node.clock_skew is None


def test_the_sweep_leaves_a_node_whose_fresh_heartbeat_is_not_flushed_yet(owner, store):
    late, gone = deployed(owner, "late"), deployed(owner, "gone")
    past = timezone.now() - timedelta(seconds=1)
    Node.objects.filter(pk__in=[late.pk, gone.pk]).update(unreachable_after=past)
    if isinstance(store, liveness_store.RedisStore):
        # Heard by another web process: only Redis holds it, not this process's memory.
        other = liveness_store.RedisStore(store.pending_key.split(":")[0])
        other.local.record(late.uuid.hex, {}, (timezone.now() + timedelta(seconds=45)).timestamp())
        other.push()
        assert not store.local.deadlines
    else:
        liveness.node_heartbeat(node=late, beat=BEAT)

    assert liveness.nodes_sweep_unreachable() == [gone.pk]
    assert Node.objects.get(pk=late.pk).state == "Deployed"
    assert Node.objects.get(pk=late.pk).unreachable_after == past  # the row is still behind


def test_the_flush_asks_a_probe_for_a_node_that_needs_one_once(
    owner, store, probes, django_capture_on_commit_callbacks
):
    node = deployed(owner)
    Node.objects.filter(pk=node.pk).update(state="Unreachable")
    fine = deployed(owner, "fine")
    stopped = deployed(owner, "stopped")
    Node.objects.filter(pk=stopped.pk).update(state="Unreachable")
    for _ in range(2):
        liveness.node_heartbeat(node=node, beat=BEAT)
        liveness.node_heartbeat(node=fine, beat=BEAT)
        liveness.node_heartbeat(node=stopped, beat=BEAT | {"dockerd_running": False})
        with django_capture_on_commit_callbacks(execute=True):
            liveness.nodes_flush_liveness()
    assert probes == [node.pk]


def test_a_probe_or_health_check_that_reaches_a_node_moves_its_deadline(owner):
    node = deployed(owner)
    past = timezone.now() - timedelta(minutes=5)
    Node.objects.filter(pk=node.pk).update(state="Unreachable", unreachable_after=past)
    assert liveness.node_set_reached(node_id=node.pk, connection="direct")
    node.refresh_from_db()
    assert node.state == "Deployed"
    assert node.unreachable_after >= timezone.now() + timedelta(seconds=40)
    assert liveness.nodes_sweep_unreachable() == []


def other_process_cache() -> RedisCache:
    return RedisCache(settings.REDIS_URL, {})


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
def test_a_reconnect_asks_one_probe_across_processes_and_none_for_a_deployed_node(
    owner, store, probes, monkeypatch, django_capture_on_commit_callbacks
):
    waiting = Node.objects.create(organization=owner.org, hostname="waiting")  # Deploying
    fine = deployed(owner, "fine", public_ip="10.250.0.9")
    hellos = []
    for _ in range(2):  # two web processes, each with its own cache client, one Redis
        monkeypatch.setattr(node_services, "cache", other_process_cache())
        for node in (waiting, fine):
            if liveness.node_hello(node=node, hello={}, address="10.250.0.9"):
                hellos.append(node.pk)
                with django_capture_on_commit_callbacks(execute=True):
                    node_services.node_probe_request(node_id=node.pk, node_uuid=node.uuid)
    assert hellos == [waiting.pk, waiting.pk] and probes == [waiting.pk]
    # The same node, its agent now coming from another address: how it is reached may differ.
    assert liveness.node_hello(node=fine, hello={}, address="10.250.0.44")
    # An address no node is known by (a proxy that did not say) is no change.
    assert not liveness.node_hello(node=fine, hello={}, address="127.0.0.1")


def test_a_hello_is_no_row_write_and_its_versions_are_flushed(owner, store):
    node = deployed(owner, last_seen=None)
    with CaptureQueriesContext(connection) as queries:
        hello = {"agent_version": "9.9.9", "docker_version": "x" * 99}
        assert not liveness.node_hello(node=node, hello=hello, address=None)
    assert len(queries) == 0
    liveness.nodes_flush_liveness()
    node.refresh_from_db()
    assert node.agent_version == "9.9.9" and node.docker_version == "x" * 64 and node.last_seen
