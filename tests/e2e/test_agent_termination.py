"""A terminated node's agent socket closes within a second, whichever process terminates it:
here the owner terminates through the API, a Celery worker process runs the termination, and
the web process holding the (fake, unwilling) agent's socket closes it."""

import base64
import json
import threading
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts import services
from accounts.audit import Actor
from nodes import services as node_services
from nodes.models import Node
from tests.conftest import PASSWORD
from tests.nodes.test_registration import FACTS, make_csr

from .conftest import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]


class FakeAgent:
    """An agent that will not leave: it refuses `deregister` and keeps its socket."""

    def __init__(self, cp, node, secret: str):
        url = cp.url.replace("http://", "ws://") + "/ws/agent/"
        auth = {"Authorization": f"Agent {node.uuid}:{secret}"}
        self.ws = connect(url, additional_headers=auth, open_timeout=10)
        self.frames: list[dict] = []
        self.closed_at: float | None = None
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                frame = json.loads(text)
                self.frames.append(frame)
                if frame["type"] == "command":
                    answer = {"ok": False, "output": "", "error": "not leaving", "data": {}}
                    self.ws.send(json.dumps({"type": "result", "id": frame["id"], **answer}))
        except ConnectionClosed:
            pass
        self.closed_at = time.time()
        self.closed.set()


def test_a_terminated_nodes_socket_closes_within_a_second_from_another_process(control_plane):
    cp = control_plane
    user = services.user_signup(username="acme-op", email="op@acme.test", password=PASSWORD)
    org = services.organization_create(actor=Actor(user=user), name="acme")
    _, key = services.apikey_create(actor=Actor(user=user), user=user, label="e2e")
    auth = "Basic " + base64.b64encode(f"{user.username}:{key}".encode()).decode()
    _, token = node_services.registration_token_create(actor=Actor(user=user), organization=org)
    registered = node_services.node_register(
        token=token, csr=make_csr(), facts=FACTS | {"addresses": []}, remote_ip=None
    )
    node, secret = registered["node"], registered["secret"]

    agent = FakeAgent(cp, node, secret)
    wait_for(lambda: any(f["type"] == "ack" for f in agent.frames), timeout=10, message="ack")
    response = requests.delete(
        f"{cp.url}/api/infra/v1/acme/node/{node.uuid}/", headers={"Authorization": auth}, timeout=10
    )
    assert response.status_code == 202, response.text

    def terminated():
        return Node.objects.filter(pk=node.pk, state="Terminated").first()

    node = wait_for(terminated, timeout=60, interval=0.05, message="the node to be Terminated")
    assert agent.closed.wait(5), f"the socket is still open; it got {agent.frames}"
    assert any(f["type"] == "command" and f["name"] == "deregister" for f in agent.frames)
    assert agent.frames[-1] == {"type": "close", "reason": "deregistered"}
    assert agent.ws.close_code == 4410
    latency = agent.closed_at - node.destroyed_datetime.timestamp()
    print(f"socket closed {latency:.3f} s after the termination")
    assert latency < 1.0

    again = FakeAgent(cp, node, secret)  # its secret is revoked
    assert again.closed.wait(10)
    assert again.frames == [{"type": "close", "reason": "unauthorized: unknown node or secret"}]
