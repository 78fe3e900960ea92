"""A Celery worker killed in the middle of a Docker upgrade: beat's reaper fails the action with a
message saying so once its deadline passed, and returns the node (its agent still heartbeating)
to Deployed. Web, worker and beat are separate processes on PostgreSQL and Redis; the node is a
real lab host whose upgrade command blocks."""

import time

import pytest
import requests

from nodes.models import Action, Node

from .conftest import wait_for
from .test_byoh import _deployed, _install, _install_command, _org_with_key

pytestmark = [pytest.mark.lab, pytest.mark.slow]
UPGRADE_TIMEOUT = 4  # seconds the worker would wait for the agent
GRACE = 1


@pytest.fixture
def control_plane_env() -> dict:
    return {
        "DC_UPGRADE_DOCKER_COMMAND": "sleep 120",  # the upgrade never finishes while we look
        "DC_DOCKER_UPGRADE_TIMEOUT": str(UPGRADE_TIMEOUT),
        "DC_ACTION_GRACE": str(GRACE),
    }


def test_a_worker_killed_mid_upgrade_leaves_a_failed_action_and_a_deployed_node(
    control_plane, lab_hosts
):
    cp = control_plane
    org, auth = _org_with_key()
    host = lab_hosts(1)[0]
    _install(host, _install_command(cp, auth, org.name))
    node = _deployed(org, "direct", host=host)

    response = requests.post(
        f"{cp.url}/api/infra/v1/{org.name}/node/{node.uuid}/docker-upgrade/",
        headers={"Authorization": auth},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    uuid = response.headers["X-DockerCloud-Action-URI"].rstrip("/").rsplit("/", 1)[1]
    wait_for(
        lambda: Action.objects.filter(uuid=uuid, state="In progress").exists(),
        timeout=10,
        interval=0.05,
        message="a worker to start the upgrade",
    )
    wait_for(
        lambda: "sleep 120" in host.run("ps -eo args", check=False).stdout,
        timeout=UPGRADE_TIMEOUT - 1,
        interval=0.05,
        message="the agent to run the upgrade command",
    )
    cp.kill_worker()
    killed = time.monotonic()
    assert Action.objects.get(uuid=uuid).state == "In progress"
    assert Node.objects.get(pk=node.pk).state == "Upgrading"
    cp.start_worker()  # as the worker's supervisor would: it runs beat's jobs

    def reaped():
        action = Action.objects.get(uuid=uuid)
        return action if action.state != "In progress" else None

    action = wait_for(
        reaped,
        timeout=UPGRADE_TIMEOUT + GRACE + 20,
        message="the reaper to fail the action",
        seen=lambda: f"node {Node.objects.get(pk=node.pk).state}",
    )
    took = time.monotonic() - killed
    message = (
        f"No worker finished this in {UPGRADE_TIMEOUT + GRACE} seconds; "
        "the node was returned to Deployed."
    )
    assert action.state == "Failed" and action.error == message
    assert action.logs.endswith(message + "\n")
    assert Node.objects.get(pk=node.pk).state == "Deployed"
    print(f"reaped {took:.1f} s after the worker was killed")

    # What the API shows the user, and the node works on.
    shown = requests.get(
        f"{cp.url}/api/audit/v1/action/{uuid}/", headers={"Authorization": auth}, timeout=10
    ).json()
    assert shown["state"] == "Failed" and message in shown["logs"]
    check = requests.post(
        f"{cp.url}/api/infra/v1/{org.name}/node/{node.uuid}/health-check/",
        headers={"Authorization": auth},
        timeout=10,
    )
    assert check.status_code == 202, check.text
    checked = check.headers["X-DockerCloud-Action-URI"].rstrip("/").rsplit("/", 1)[1]
    wait_for(
        lambda: Action.objects.get(uuid=checked).state == "Success",
        timeout=20,
        message="the new worker to run a health check",
    )
