"""Portal pages of nodes: the list with "bring your own node", a node, an SSH install.

Every page and POST: anonymous to login, outsider 404 (also under their own organization),
read-only member 403 on writes (nothing changes), writers' writes work and are audited.
"""

import socket
from dataclasses import dataclass

import pytest
from django.utils.html import escape

from accounts.audit import Actor
from accounts.models import AuditEntry
from agentapi import services as ssh_services
from agentapi.artifact import agent_pyz
from agentapi.models import SshInstall
from nodes import services as node_services
from nodes.models import Action, Node, RegistrationToken
from nodes.transitions import liveness
from tests.nodes.test_registration import FACTS, make_csr

from .conftest import text

pytestmark = pytest.mark.django_db

BASE = "/orgs/acme"
SSH_PASSWORD = "hunter2-hunter2"


@dataclass
class AcmeNodes:
    node: Node
    install: SshInstall


@pytest.fixture
def queued(monkeypatch):
    ids = []
    monkeypatch.setattr("agentapi.tasks.ssh_install_run.delay", ids.append)
    return ids


@pytest.fixture
def terminations(monkeypatch):
    """(node id, action id) of the terminate tasks queued on commit."""
    calls = []
    monkeypatch.setattr("nodes.tasks.terminate_node.delay", lambda *ids: calls.append(ids))
    return calls


@pytest.fixture
def acme_nodes(owner, readonly_member, queued) -> AcmeNodes:
    """A registered node with a heartbeat, and an SSH install request, in `acme`."""
    actor = Actor(user=owner.user)
    _, token = node_services.registration_token_create(actor=actor, organization=owner.org)
    node = node_services.node_register(
        token=token, csr=make_csr(), facts=FACTS, remote_ip="10.250.0.9"
    )["node"]
    liveness.node_heartbeat(
        node=node,
        beat={
            "time": 0,
            "load": [0.5, 0.25, 0.1],
            "memory": {"total_mb": 2048, "available_mb": 1024},
            "disk": {"total_gb": 40.0, "free_gb": 30.5},
            "containers": {"running": 1, "total": 3},
            "dockerd_running": True,
        },
    )
    liveness.node_set_reached(node_id=node.pk, connection="tunnel")
    install = ssh_services.ssh_install_create(
        actor=actor,
        organization=owner.org,
        host="10.250.0.20",
        password=SSH_PASSWORD,
        base_url="http://cp.test",
    )
    return AcmeNodes(node=Node.objects.get(pk=node.pk), install=install)


def _reads(objs):
    return [
        f"{BASE}/nodes/",
        f"{BASE}/nodes/{objs.node.uuid}/",
        f"{BASE}/byo-ssh/{objs.install.uuid}/",
    ]


def _writes(objs):
    """(path, form data, audit action), in an order one writer can run them."""
    return [
        (f"{BASE}/nodes/token/", {}, "node.token"),
        (f"{BASE}/byo-ssh/", {"host": "10.250.0.21", "port": "22", "username": "root",
                              "password": SSH_PASSWORD}, "node.byo_ssh"),
        (f"{BASE}/nodes/{objs.node.uuid}/edit/", {"nickname": "db-1", "tags": "db, eu"},
         "node.update"),
        (f"{BASE}/nodes/{objs.node.uuid}/terminate/", {}, "node.terminate"),
    ]  # fmt: skip


def _snapshot():
    return (
        sorted(Node.objects.values_list("uuid", "state")),
        RegistrationToken.objects.count(),
        SshInstall.objects.count(),
        Action.objects.count(),
        AuditEntry.objects.count(),
    )


def test_anonymous_is_sent_to_login(client, acme_nodes):
    for path in _reads(acme_nodes):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next="), path
    before = _snapshot()
    for path, data, _ in _writes(acme_nodes):
        assert client.post(path, data).status_code == 302, path
    assert _snapshot() == before


def test_outsider_gets_404_everywhere_and_changes_nothing(client, acme_nodes, outsider):
    client.force_login(outsider.user)
    for path in _reads(acme_nodes):
        assert client.get(path).status_code == 404, path
    before = _snapshot()
    for path, data, _ in _writes(acme_nodes):
        assert client.post(path, data).status_code == 404, path
    assert _snapshot() == before


def test_outsider_gets_404_for_acme_objects_under_their_own_organization(
    client, acme_nodes, outsider, terminations
):
    client.force_login(outsider.user)
    own = "/orgs/globex"
    assert client.get(f"{own}/nodes/{acme_nodes.node.uuid}/").status_code == 404
    assert client.get(f"{own}/byo-ssh/{acme_nodes.install.uuid}/").status_code == 404
    before = _snapshot()
    assert client.post(f"{own}/nodes/{acme_nodes.node.uuid}/terminate/").status_code == 404
    assert _snapshot() == before and terminations == []
    assert acme_nodes.node.hostname not in client.get(f"{own}/nodes/").content.decode()


def test_readonly_member_reads_pages_but_gets_403_on_writes(
    client, acme_nodes, readonly_member, terminations
):
    client.force_login(readonly_member.user)
    for path in _reads(acme_nodes):
        assert client.get(path).status_code == 200, path
    before = _snapshot()
    for path, data, _ in _writes(acme_nodes):
        assert client.post(path, data).status_code == 403, path
    assert _snapshot() == before and terminations == []


def _post_forms(client, paths) -> int:
    return sum(
        client.get(path).content.decode().count(f'method="post" action="{BASE}/') for path in paths
    )


def test_readonly_member_sees_no_write_forms_the_writer_sees(
    client, acme_nodes, readonly_member, writer
):
    client.force_login(writer.user)
    # token, SSH; then health check, Docker upgrade, agent upgrade, name and tags, terminate
    assert _post_forms(client, _reads(acme_nodes)[:2]) == 7
    client.force_login(readonly_member.user)
    assert _post_forms(client, _reads(acme_nodes)) == 0
    assert "Bring your own node" not in client.get(f"{BASE}/nodes/").content.decode()


def test_writer_writes_work_and_are_audited(
    client, acme_nodes, writer, terminations, queued, django_capture_on_commit_callbacks
):
    client.force_login(writer.user)
    for path, data, action in _writes(acme_nodes):
        entries = AuditEntry.objects.filter(action=action, organization=writer.org)
        before = entries.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(path, data)
        assert response.status_code in (200, 302), (path, response.content[:500])
        assert entries.count() == before + 1, (path, action)
        assert entries.first().actor == writer.user
    node = Node.objects.get(pk=acme_nodes.node.pk)
    assert node.nickname == "db-1" and node.tags == [{"name": "db"}, {"name": "eu"}]
    assert Action.objects.get(action="Node Update").state == "Success"
    assert node.state == "Terminating"
    terminate = Action.objects.get(action="Node Terminate", object_uuid=node.uuid)
    assert terminations == [(node.pk, terminate.pk)] and terminate.user == writer.user
    assert len(queued) == 1  # the SSH install, by id


def test_get_on_a_post_only_url_is_405_for_members_and_404_for_outsiders(
    client, acme_nodes, owner, outsider
):
    for path in (f"{BASE}/nodes/token/", f"{BASE}/byo-ssh/"):
        client.force_login(owner.user)
        assert client.get(path).status_code == 405, path
        client.force_login(outsider.user)
        assert client.get(path).status_code == 404, path


def test_list_shows_nodes_and_installs(client, acme_nodes, owner):
    client.force_login(owner.user)
    page = text(client.get(f"{BASE}/nodes/"))
    assert "web-1 Deployed own host tunnel 10.250.0.9 20.10.24 3" in page
    assert "root@10.250.0.20:22" in page and "Pending" in page


def test_node_detail_shows_facts_metrics_and_skew(client, acme_nodes, owner):
    client.force_login(owner.user)
    page = text(client.get(f"{BASE}/nodes/{acme_nodes.node.uuid}/"))
    assert "State Deployed" in page and "Connection tunnel" in page
    assert "Load (1, 5, 15 min) 0.5, 0.25, 0.1" in page
    assert "1024 MB available of 2048 MB" in page and "30.5 GB free of 40.0 GB" in page
    assert "Docker daemon running" in page
    assert "Clock skew -" in page  # the heartbeat said time 0: far behind the server
    assert "Terminate web-1" in page


def test_token_is_shown_once_as_an_install_command(client, acme_nodes, owner):
    client.force_login(owner.user)
    response = client.post(f"{BASE}/nodes/token/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    command = response.context["command"]
    assert command.startswith("curl -fsSL http://testserver/install/dcr_")
    assert command.endswith(f" | sh -s -- --sha256 {agent_pyz()[1]}")
    assert command in response.content.decode()
    token = command.split("/install/")[1].split()[0]
    assert token not in client.get(f"{BASE}/nodes/").content.decode()
    assert "dockercloud install" not in client.get(f"/install/{token}").content.decode()


def test_ssh_form_creates_a_request_and_redirects_to_its_page(client, acme_nodes, owner, queued):
    client.force_login(owner.user)
    response = client.post(
        f"{BASE}/byo-ssh/",
        {"host": "10.250.0.30", "port": "2222", "username": "root", "password": SSH_PASSWORD},
    )
    install = SshInstall.objects.get(host="10.250.0.30")
    assert response["Location"] == f"{BASE}/byo-ssh/{install.uuid}/"
    assert install.port == 2222 and install.get_secret("password") == SSH_PASSWORD
    page = client.get(response["Location"])
    assert SSH_PASSWORD not in page.content.decode()
    assert 'http-equiv="refresh"' in page.content.decode()  # pending: the page refreshes
    assert "stored encrypted until the attempt" in text(page)


def test_ssh_form_errors_are_shown_and_the_key_is_not_echoed(client, acme_nodes, owner):
    client.force_login(owner.user)
    response = client.post(
        f"{BASE}/byo-ssh/",
        {"host": "10.250.0.31", "port": "22", "username": "root",
         "password": "x", "private_key": "-----BEGIN NOT A KEY-----"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.context["ssh_form"].errors["password"] == [
        "Give a password or a private key, not both."
    ]
    assert "BEGIN NOT A KEY" not in response.content.decode()
    assert not SshInstall.objects.filter(host="10.250.0.31").exists()
    response = client.post(f"{BASE}/byo-ssh/", {"host": "h", "port": "0", "username": "root"})
    assert "port" in response.context["ssh_form"].errors


def test_finished_install_page_shows_log_error_and_no_refresh(
    client, acme_nodes, owner, monkeypatch
):
    monkeypatch.setattr("agentapi.ssh.UNREACHABLE_AFTER", 0)  # not held back: no scan here
    install = acme_nodes.install
    ssh_services.ssh_install_run(install_id=install.pk)  # 10.250.0.20 is not a lab host here
    client.force_login(owner.user)
    response = client.get(f"{BASE}/byo-ssh/{install.uuid}/")
    page = text(response)
    assert "State Failed" in page and "could not connect to 10.250.0.20:22 over SSH" in page
    assert "Connecting to root@10.250.0.20:22 with a password" in page
    assert "deleted" in page and 'http-equiv="refresh"' not in response.content.decode()


def test_terminating_twice_says_so(client, acme_nodes, owner, terminations):
    client.force_login(owner.user)
    path = f"{BASE}/nodes/{acme_nodes.node.uuid}/terminate/"
    client.post(path)
    response = client.post(path, follow=True)
    assert "web-1 is terminating already." in text(response)
    assert Action.objects.filter(action="Node Terminate").count() == 1
    assert "Terminate web-1" not in text(response)
    assert "Node Terminate Pending alice" in text(response)


@pytest.mark.parametrize(
    "verb, task, action",
    [
        ("docker-upgrade", "upgrade_docker", "Node Upgrade Docker"),
        ("agent-upgrade", "upgrade_agent", "Node Upgrade Agent"),
        ("health-check", "health_check", "Node Health Check"),
    ],
)
def test_maintenance_buttons_queue_their_action(
    client, acme_nodes, writer, readonly_member, outsider, monkeypatch,
    django_capture_on_commit_callbacks, verb, task, action,
):  # fmt: skip
    calls = []
    monkeypatch.setattr(f"nodes.tasks.{task}.delay", lambda *ids: calls.append(ids))
    node = acme_nodes.node
    path = f"{BASE}/nodes/{node.uuid}/{verb}/"
    client.force_login(outsider.user)
    assert client.post(path).status_code == 404
    client.force_login(readonly_member.user)
    assert client.post(path).status_code == 403
    assert not Action.objects.filter(action=action).exists()

    client.force_login(writer.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, follow=True)
    queued = Action.objects.get(action=action, object_uuid=node.uuid)
    assert calls == [(node.pk, queued.pk)] and queued.user == writer.user
    assert action in text(response)  # listed on the node's page

    # A node that is not Deployed refuses, says why, and leaves no action behind.
    Node.objects.filter(pk=node.pk).update(state="Deploying")
    response = client.post(path, follow=True)
    assert "in state Deploying" in text(response)
    assert Action.objects.filter(action=action).count() == 1
    assert client.post(f"{BASE}/nodes/{node.uuid}/format-disk/").status_code == 404


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when this returns: nothing listens


def test_containers_page_for_members_only_and_says_when_the_daemon_does_not_answer(
    client, acme_nodes, readonly_member, outsider, monkeypatch
):
    """(The listing itself, from a real daemon over TLS and through the tunnel, is in
    tests/e2e/test_byoh.py.)"""
    node = acme_nodes.node
    path = f"{BASE}/nodes/{node.uuid}/containers/"
    assert client.get(path).status_code == 302  # to the login page
    client.force_login(outsider.user)
    assert client.get(path).status_code == 404
    assert client.get(f"/orgs/globex/nodes/{node.uuid}/containers/").status_code == 404

    # A node whose daemon is down: a clear line, not an error page.
    Node.objects.filter(pk=node.pk).update(connection="direct", public_ip="127.0.0.1")
    monkeypatch.setattr("nodes.docker_client.DOCKER_PORT", _closed_port())
    client.force_login(readonly_member.user)
    page = text(client.get(path))
    assert "The node's Docker daemon did not answer (ConnectionError)." in page
    assert client.post(path).status_code == 405

    # A node that is not Deployed is not asked at all.
    Node.objects.filter(pk=node.pk).update(state="Unreachable")
    monkeypatch.setattr("nodes.docker_client.docker_client", lambda *a, **k: pytest.fail("asked"))
    assert "The node is unreachable: its Docker daemon is not asked now." in text(client.get(path))


def test_bad_tags_are_a_clear_message_and_change_nothing(client, acme_nodes, writer):
    client.force_login(writer.user)
    node = acme_nodes.node
    before = _snapshot()
    response = client.post(
        f"{BASE}/nodes/{node.uuid}/edit/", {"nickname": "db-1", "tags": "x" * 101}, follow=True
    )
    assert "Each tag needs a name of 1 to 100 characters." in text(response)
    assert _snapshot() == before
    assert Node.objects.get(pk=node.pk).nickname == node.nickname


@pytest.mark.parametrize(
    "host, warned",
    [
        ("127.0.0.1:8000", "127.0.0.1 is a loopback address"),
        ("localhost:8000", "localhost is this machine's own name"),
        ("[::1]:8000", "::1 is a loopback address"),
        ("169.254.3.4", "169.254.3.4 is link-local"),
        ("10.0.0.5:8000", None),
        ("cp.example.com", None),
    ],
)
def test_an_install_command_other_hosts_cannot_use_says_so(client, acme_nodes, owner, host, warned):
    client.force_login(owner.user)
    response = client.post(f"{BASE}/nodes/token/", HTTP_HOST=host)
    assert response.status_code == 200
    page = response.content.decode()
    if warned:
        assert escape(warned) in page and "DC_PUBLIC_URL" in page
    else:
        assert 'id="unreachable-base"' not in page


def test_the_node_list_is_paged_newest_first(client, acme_nodes, owner):
    from nodes.views.byo import PAGE_SIZE

    client.force_login(owner.user)
    have = Node.objects.filter(organization=owner.org).count()
    Node.objects.bulk_create(
        Node(organization=owner.org, hostname=f"fleet-{i:03}") for i in range(2 * PAGE_SIZE)
    )
    total = have + 2 * PAGE_SIZE
    first = client.get(f"{BASE}/nodes/")
    assert len(first.context["nodes"]) == PAGE_SIZE
    assert f"Page 1 of 3 ({total} nodes)" in first.content.decode()
    last = client.get(f"{BASE}/nodes/", {"page": 3})
    assert len(last.context["nodes"]) == total - 2 * PAGE_SIZE
    seen = {
        n.pk
        for page in (1, 2, 3)
        for n in client.get(f"{BASE}/nodes/", {"page": page}).context["nodes"]
    }
    assert len(seen) == total  # every node on exactly one page
    assert client.get(f"{BASE}/nodes/", {"page": "x"}).status_code == 200  # the first page


def test_the_install_page_follows_its_command_to_the_node(client, acme_nodes, owner, outsider):
    client.force_login(owner.user)
    page = client.post(f"{BASE}/nodes/token/")
    status_url = page.context["request"].build_absolute_uri(
        f"{BASE}/nodes/token/{page.context['token_uuid']}/"
    )
    assert f'data-token-status="{BASE}/nodes/token/{page.context["token_uuid"]}/"' in (
        page.content.decode()
    )
    waiting = client.get(status_url).json()
    assert (waiting["waiting"], waiting["expired"], waiting["failure"]) == (True, False, None)

    plaintext = page.context["command"].split("/install/")[1].split()[0]
    node = node_services.node_register(
        token=plaintext, csr=make_csr("late-host"), facts=FACTS | {"hostname": "late-host"},
        remote_ip="10.250.0.9",
    )["node"]  # fmt: skip
    body = client.get(status_url).json()
    assert body["node"] == {
        "name": "late-host", "state": "Deploying", "url": f"{BASE}/nodes/{node.uuid}/"
    }  # fmt: skip
    assert plaintext not in str(body)

    client.force_login(outsider.user)  # another organization's user: nothing to see
    assert client.get(status_url).status_code == 404
    own = status_url.replace(BASE, "/orgs/globex")  # nor through their own organization
    assert client.get(own).status_code == 404
