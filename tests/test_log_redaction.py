"""No credential in the server's output: the real server with its real logging configuration,
driven over HTTP and websockets the way clients, agents and attackers use it, in both
topologies (the embedded `make run`; `manage.py serve` + a Celery worker on PostgreSQL and
Redis). Every line the processes write is searched for every secret the flows handled."""

import base64
import re

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import PASSWORD
from tests.e2e.conftest import wait_for
from tests.nodes.test_registration import FACTS, make_csr
from tests.webproc import celery_worker, embedded_env, make_run, production_env, serve

pytestmark = [pytest.mark.slow]


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def _ws(server, path: str, headers=None):
    return connect(
        f"ws://127.0.0.1:{server.port}{path}",
        additional_headers=headers or {},
        open_timeout=5,
        proxy=None,
    )


def drive_flows(server, user: str, password: str, org: str) -> dict[str, str]:
    """Create a key, use it every way, make a registration token, fetch the installer,
    register a node and open its agent socket; return each secret handled."""
    url, session = server.url, requests.Session()
    created = session.post(
        f"{url}/api/v1/user/apikeys/", json={"label": "logs"}, auth=(user, password)
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert session.get(f"{url}/api/v1/orgs/", auth=(user, key)).status_code == 200
    assert session.get(f"{url}/api/v1/orgs/", headers={"Authorization": f"Token {key}"}).ok
    # Credentials in query strings, as careless clients send them (also refused ones).
    query = f"apikey={key}&password={password}&token={key}"
    assert session.get(f"{url}/api/v1/orgs/?{query}", auth=(user, key)).status_code == 200
    assert session.get(f"{url}/api/v1/orgs/{key}/", auth=(user, key)).status_code == 404
    wrong = "dck_" + "x" * 50
    assert session.get(f"{url}/api/v1/orgs/", auth=(user, wrong)).status_code == 401
    # The Docker Cloud stream: the Go SDK's ?user=&token=, then Basic; a refused handshake.
    with _ws(server, f"/api/audit/v1/{org}/events?user={user}&token={key}"):
        pass
    with _ws(server, f"/api/audit/v1/{org}/events", {"Authorization": _basic(user, key)}):
        pass
    with pytest.raises(InvalidStatus):
        _ws(server, f"/api/audit/v1/{org}/events?user={user}&token={wrong}")
    # A registration token, its install script, a registration and the agent's socket.
    made = session.post(f"{url}/api/infra/v1/{org}/token/", auth=(user, key))
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert token in session.get(f"{url}/install/{token}").text
    assert session.get(f"{url}/install/dcr_{'y' * 50}").ok  # unknown: a failing script
    body = {"token": token, "csr": make_csr("logs-1"), "facts": FACTS | {"hostname": "logs-1"}}
    registered = session.post(f"{url}/api/agent/v1/register/", json=body)
    assert registered.status_code == 201, registered.text
    agent = registered.json()
    secret = agent["secret"]
    assert session.post(f"{url}/api/agent/v1/register/", json=body).status_code >= 400  # used
    with _ws(server, "/ws/agent/", {"Authorization": f"Agent {agent['node_uuid']}:{secret}"}) as ws:
        assert '"config"' in ws.recv(timeout=5)
    # Whatever the server logs last is written once this marker's line is.
    session.get(f"{url}/healthz?done=1")
    wait_for(lambda: "/healthz?done=1" in server.output(), timeout=10, message="the last line")
    return {"key": key, "token": token, "secret": secret, "wrong": wrong, "password": password}


def assert_no_secret(output: str, user: str, secrets: dict[str, str]) -> None:
    for name, value in secrets.items():
        for shown in (value, value[4:], _basic(user, value).split()[1]):
            assert shown not in output, f"the {name} is in the server's output"
    # The lines were written, redacted: the test looked at real log lines.
    for redacted in ("/install/[redacted]", "token=[redacted]", "apikey=[redacted]"):
        assert redacted in output, redacted


def test_embedded_make_run_logs_no_secret(tmp_path):
    server = make_run(embedded_env(tmp_path), tmp_path / "server.log").start()
    try:
        banner = re.search(r"^  password: (\S+)$", server.output(), re.MULTILINE)
        assert banner, server.output()[-2000:]
        secrets = drive_flows(server, "admin", banner.group(1), "admin")
    finally:
        server.stop()
    # The first run prints the admin's password once, by design: everywhere else it is a leak.
    output = server.output().replace(f"  password: {secrets['password']}\n", "", 1)
    assert "Uvicorn running" in output  # the server's own lines are in this output
    assert_no_secret(output, "admin", secrets)


def test_production_serve_and_worker_log_no_secret(transactional_db, owner, tmp_path):
    env = production_env(tmp_path)
    log = tmp_path / "server.log"
    worker = celery_worker(env, log).start(healthy=False)
    server = serve(env, log).start()
    try:
        secrets = drive_flows(server, "alice", PASSWORD, "acme")
    finally:
        server.stop()
        worker.stop()
    output = server.output()
    assert "celery@" in output or "dockercloud" in output
    assert_no_secret(output, "alice", secrets)
