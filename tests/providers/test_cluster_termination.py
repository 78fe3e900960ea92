"""One way a node ends (`node_destroy`), for a user's terminate and for the reconciler alike,
against the DigitalOcean stand-in: each node's termination is one audit row and one delete
event, however the two paths meet (a user terminates a node, then its whole cluster)."""

import pytest

from accounts.models import AuditEntry
from nodes import clusters, provisioning, tasks
from nodes.models import Action, DockerEvent, Node, NodeCluster

pytestmark = pytest.mark.django_db
BODY = {
    "name": "web",
    "region": "/api/infra/v1/region/digitalocean/ams3/",
    "node_type": "/api/infra/v1/nodetype/digitalocean/s-1vcpu-1gb/",
    "target_num_nodes": 2,
}


@pytest.fixture
def queued(monkeypatch):
    calls: dict[str, list] = {}
    for name in ("terminate_node", "reconcile_cluster"):
        monkeypatch.setattr(
            f"nodes.tasks.{name}.delay", lambda *ids, n=name: calls.setdefault(n, []).append(ids)
        )
    return calls


def test_a_node_then_its_cluster_terminated_end_each_node_once(
    owner, do_api, do_credential, queued, django_capture_on_commit_callbacks
):
    client = owner.client()
    created = client.post("/api/infra/v1/acme/nodecluster/", BODY, format="json")
    assert created.status_code == 201, created.content
    uri = created.json()["resource_uri"]
    assert client.post(f"{uri}deploy/").status_code == 202
    cluster = NodeCluster.objects.get()
    clusters.reconcile(cluster)  # the worker's pass: two nodes, a droplet each
    first, second = cluster.nodes.order_by("created")
    assert first.provider_host_id and second.provider_host_id

    cluster_events = DockerEvent.objects.filter(type="nodecluster", actor_id=cluster.uuid)
    seen = cluster_events.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/infra/v1/acme/node/{first.uuid}/").status_code == 202
    # The cluster keeps one node fewer: its target changed, and the stream hears it.
    assert NodeCluster.objects.get().target_num_nodes == 1
    assert cluster_events.count() == seen + 1
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(uri).status_code == 202
    cluster.refresh_from_db()
    clusters.reconcile(cluster)  # the cluster's termination, before the node's task ran
    tasks.terminate_node(*queued["terminate_node"][0])  # the node's task, late

    assert set(Node.objects.values_list("state", flat=True)) == {"Terminated"}
    assert NodeCluster.objects.get().state == "Terminated"
    rows = AuditEntry.objects.filter(action="node.terminate")
    assert sorted(((r.object_id, r.actor_id) for r in rows), key=str) == sorted(
        [(str(first.uuid), owner.user.pk), (str(second.uuid), None)], key=str
    )
    for node in (first, second):
        deleted = DockerEvent.objects.filter(type="node", action="delete", actor_id=node.uuid)
        assert deleted.count() == 1
        assert do_api.requested("DELETE", f"/droplets/{node.provider_host_id}")
    assert not do_api.droplets
    assert Action.objects.get(action="Node Terminate").state == "Success"
    assert Action.objects.get(action="Node Cluster Terminate").state == "Success"


def test_the_reconciler_leaves_a_terminated_node_alone(owner, do_api, do_credential, queued):
    """A node ended meanwhile (by a user's terminate in another worker) is not ended twice."""
    client = owner.client()
    uri = client.post("/api/infra/v1/acme/nodecluster/", BODY, format="json").json()
    assert client.post(f"{uri['resource_uri']}deploy/").status_code == 202
    cluster = NodeCluster.objects.get()
    clusters.reconcile(cluster)
    node = cluster.nodes.first()
    Node.objects.filter(pk=node.pk).update(state="Terminated")
    before = DockerEvent.objects.count()
    driver = provisioning.driver_for_cluster(cluster)
    clusters._destroy_node(cluster, node, driver, reason="scaled down")
    assert DockerEvent.objects.count() == before
    assert not AuditEntry.objects.filter(action="node.terminate").exists()
