"""Node maintenance on a real lab node with its agent: members' SSH keys in authorized_keys
(paramiko logs in, and is refused once the member is removed), a skewed clock synced (the
lab agent's clock is offset in its configuration and the sync command recorded, never run),
a container's 30 MB of logs capped on disk, and unused images removed (the agent's image
clock moved forward in its configuration)."""

import base64
import io
import json
import os
import time

import paramiko
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from accounts import services as accounts
from accounts.audit import Actor
from accounts.models import AuditEntry
from lab import import_busybox
from maintenance import services
from maintenance.models import ImageRemoval, NodeMaintenance
from nodes.docker_client import docker_client
from nodes.models import DockerEvent, Node
from tests.conftest import PASSWORD

from .conftest import wait_for
from .test_byoh import _deployed, _install, _install_command, _org_with_key

pytestmark = [pytest.mark.lab, pytest.mark.slow]

MIB = 1024 * 1024
CAP = 10 * MIB
SYNC = "chronyc -a makestep"
RECORD = "/var/lib/dockercloud/clock-sync.log"


@pytest.fixture
def control_plane_env() -> dict:
    # Clock checks every 2 s; image removals only when the test asks (it lists them first).
    return {
        "DC_MAINTENANCE_INTERVAL": "2",
        "DC_IMAGE_CLEANUP_INTERVAL": "3600",
        "DC_CLOCK_SYNC_COOLDOWN": "5",
    }


def _keypair():
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(private)), public.decode()


def _login(address: str, pkey) -> bool:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 (a lab host made now)
    try:
        client.connect(
            address, username="root", pkey=pkey, look_for_keys=False, allow_agent=False, timeout=5
        )
        _, out, _ = client.exec_command("echo in")
        return out.read() == b"in\n"
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()


def _api(cp, auth: str, method: str, path: str, **kw):
    response = requests.request(
        method, f"{cp.url}{path}", headers={"Authorization": auth}, timeout=15, **kw
    )
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def _configure_agent(host, command: str, keys_file: str) -> None:
    """The lab's agent settings: a clock 5 s ahead whose sync is recorded, the key block in the
    lab sshd's file, frequent log checks, an image clock two hours ahead. Then a restart."""
    path = host.state_path("etc-dockercloud") / "agent.json"
    config = json.loads(path.read_text())
    config |= {
        "clock_offset": 5.0,
        "clock_sync_record": RECORD,
        "authorized_keys_file": keys_file,
        "log_check_interval": 1,
        "image_clock_offset": 7200,
    }
    path.write_text(json.dumps(config))
    _install(host, command)  # the documented way to restart the agent


def _logs_on_disk(host, container) -> dict[str, int]:
    directory = host.state_path("var-lib-docker") / "containers" / container.id
    return {
        name: os.stat(directory / name).st_blocks * 512
        for name in os.listdir(directory)
        if name.startswith(f"{container.id}-json.log")
    }


def test_node_maintenance_keys_clock_logs_and_images(control_plane, lab_hosts):
    cp = control_plane
    org, auth = _org_with_key()
    host = lab_hosts(1)[0]
    manual_key = _keypair()[1] + " put-there-by-hand"
    host.start_sshd(authorized_keys=[manual_key])
    keys_file = str(host.state_path("lab") / "ssh" / "authorized_keys")
    ns = f"/api/v1/orgs/{org.name}"
    _api(cp, auth, "PATCH", f"{ns}/maintenance/", json={"clock_sync_command": SYNC})
    command = _install_command(cp, auth, org.name)
    _install(host, command)
    node = _deployed(org, "direct", host=host)
    _configure_agent(host, command, keys_file)

    # --- SSH keys: a member's key logs in; removed from the organization, it is refused.
    member = accounts.user_signup(username="mallory", email="m@acme.test", password=PASSWORD)
    _, member_key = accounts.apikey_create(actor=Actor(user=member), user=member, label="k")
    member_auth = "Basic " + base64.b64encode(f"mallory:{member_key}".encode()).decode()
    pkey, public = _keypair()
    _api(
        cp, member_auth, "POST", "/api/v1/user/sshkeys/", json={"label": "m", "public_key": public}
    )
    assert not _login(host.address, pkey)
    added = time.monotonic()
    _api(cp, auth, "POST", f"{ns}/members/", json={"username": "mallory"})
    wait_for(lambda: _login(host.address, pkey), timeout=60, message="the member's key to log in")
    print(f"key accepted {time.monotonic() - added:.1f} s after the member was added")
    with open(keys_file) as f:
        assert f.readline() == manual_key + "\n"  # the line outside the block stays first
    removed = time.monotonic()
    _api(cp, auth, "DELETE", f"{ns}/members/mallory/")
    wait_for(lambda: not _login(host.address, pkey), timeout=60, message="the key to be refused")
    print(f"key refused {time.monotonic() - removed:.1f} s after the member was removed")
    assert open(keys_file).read().startswith(manual_key + "\n")

    # --- Clock: 5 s ahead -> the control plane syncs it (recorded) -> an event, skew ~0 after.
    event = wait_for(
        lambda: DockerEvent.objects.filter(node=node, attributes__maintenance="clock_sync").first(),
        timeout=60,
        message="the clock sync",
        seen=lambda: f"skew={Node.objects.get(pk=node.pk).clock_skew}",
    )
    state = NodeMaintenance.objects.get(node=node)
    assert 4.0 < state.clock_skew_before < 6.0 and abs(state.clock_skew_after) < 1.0
    assert not state.clock_flagged
    assert host.run(["cat", RECORD]).stdout == SYNC + "\n"
    assert event.attributes["command"] == SYNC
    assert event.attributes["skew_before"] == state.clock_skew_before
    assert AuditEntry.objects.filter(action="node.clock_sync", object_id=str(node.uuid)).exists()
    wait_for(
        lambda: abs(Node.objects.get(pk=node.pk).clock_skew) < 1.0,
        timeout=20,
        message="heartbeats to show the synced clock",
    )
    assert abs(Node.objects.get(pk=node.pk).last_metric["clock_skew"]) < 1.0

    # --- Logs: a container whose own options allow 100 MB writes 30 MB; the agent caps it.
    client = docker_client(node)
    import_busybox(client)
    line = "x" * 99
    writer = client.containers.run(
        "local/busybox:lab",
        ["sh", "-c", f"yes {line} | head -c {30 * MIB}"],
        log_config={"type": "json-file", "config": {"max-size": "100m"}},
        detach=True,
    )
    assert writer.wait(timeout=60)["StatusCode"] == 0

    def capped():
        files = _logs_on_disk(host, writer)
        current = files.get(f"{writer.id}-json.log", 0)
        return files if current <= CAP and sum(files.values()) <= 2 * CAP else None

    files = wait_for(
        capped, timeout=30, message="the log cap", seen=lambda: _logs_on_disk(host, writer)
    )
    assert len(files) == 2  # the current file and one kept copy (the default)

    # --- Images: unused ones are listed, then removed; used or kept-listed ones stay.
    base = client.images.get("local/busybox:lab")
    made = {}
    for name in ("spare", "stopped", "pinned"):
        holder = client.containers.create(base.id, ["true"])
        made[name] = holder.commit(f"local/{name}", "lab")
        holder.remove()
    client.containers.create(made["stopped"].id, ["true"])  # a stopped container uses it
    _api(cp, auth, "PATCH", f"{ns}/maintenance/", json={"image_keep": ["local/pinned"]})
    report = services.node_images_clean(node=node, remove=False)
    assert [c["tags"] for c in report.images_candidates] == [["local/spare:lab"]]
    body = _api(cp, auth, "GET", f"{ns}/maintenance/images/")
    assert body["reclaimable_bytes"] == report.images_reclaimable > 0
    services.node_images_clean(node=node, remove=True)
    removal = ImageRemoval.objects.get(node=node)
    assert removal.tags == ["local/spare:lab"] and removal.image_id == made["spare"].id
    left = {tag for image in client.images.list() for tag in image.tags}
    assert left == {"local/busybox:lab", "local/stopped:lab", "local/pinned:lab"}
    body = _api(cp, auth, "GET", f"{ns}/maintenance/nodes/{node.uuid}/")
    assert [h["image_id"] for h in body["history"]] == [made["spare"].id]
    assert DockerEvent.objects.filter(node=node, attributes__maintenance="images_removed").exists()
    client.close()
