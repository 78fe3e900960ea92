"""Revocation reaches every web process: two real `manage.py serve` processes on the suite's
PostgreSQL and Redis (the production topology). Streams are held open on one; the key is
revoked, the password changed or the user deactivated through the other (or an operator's
command); the sockets on both close with 4401 within a second."""

import base64
import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.models import ApiKey
from tests.conftest import PASSWORD, make_key
from tests.webproc import ROOT, production_env, serve

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
EVENTS = "/api/audit/v1/acme/events"
NEW_PASSWORD = "a brand new passphrase 991"


@pytest.fixture
def web(transactional_db, tmp_path):
    """Two web processes of one deployment (shared database, shared Redis channel layer)."""
    env = production_env(tmp_path)
    servers = [serve(env, tmp_path / f"web-{n}.log").start(healthy=False) for n in (1, 2)]
    try:
        for server in servers:
            server.wait_healthy()
        yield servers
    finally:
        for server in servers:
            server.stop()


def stream(server, path: str = EVENTS, **headers):
    return connect(f"ws://127.0.0.1:{server.port}{path}", additional_headers=headers, proxy=None)


def portal_login(server, username: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    session.get(f"{server.url}/login/")
    form = {"username": username, "password": password}
    response = session.post(
        f"{server.url}/login/", {**form, "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    )
    assert response.status_code == 200 and "sessionid" in session.cookies, response.text[-500:]
    return session


def portal_socket(server, session: requests.Session):
    socket = connect(
        f"ws://127.0.0.1:{server.port}/ws/events/",
        origin=server.url,
        additional_headers={"Cookie": f"sessionid={session.cookies['sessionid']}"},
        proxy=None,
    )
    socket.send(json.dumps({"type": "subscribe", "org": "acme", "recent": 0}))
    assert json.loads(socket.recv(timeout=5))["type"] == "subscribed"
    return socket


def close_code(socket, deadline: float) -> int | None:
    """The code `socket` closes with before `deadline` (time.monotonic), or None."""
    try:
        while True:
            socket.recv(timeout=max(deadline - time.monotonic(), 0.01))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None


def still_open(socket) -> bool:
    try:
        socket.recv(timeout=0.2)
    except TimeoutError:
        return True
    except ConnectionClosed:
        return False
    return True


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def test_a_key_revoked_through_one_process_closes_its_streams_on_the_other(web, owner, writer):
    near, far = web
    spare = make_key(owner.user, label="spare")
    stolen_uuid = ApiKey.objects.get(user=owner.user, label="test").uuid
    stolen = [
        stream(near, f"{EVENTS}?user=alice&token={owner.key}"),
        stream(far, Authorization=basic("alice", owner.key)),
    ]
    kept = [
        stream(near, Authorization=basic("alice", spare)),
        stream(near, Authorization=basic("dave", writer.key)),
    ]
    revoked = requests.delete(
        f"{far.url}/api/v1/user/apikeys/{stolen_uuid}/", auth=("alice", spare), timeout=5
    )
    deadline = time.monotonic() + 1
    assert revoked.status_code == 204
    assert [close_code(s, deadline) for s in stolen] == [4401, 4401]
    assert all(still_open(s) for s in kept)


def test_a_password_change_through_one_process_closes_the_users_sockets_on_the_other(
    web, owner, writer
):
    near, far = web
    intruder = portal_login(near, "alice")  # someone else logged in as alice, on this process
    alice = portal_login(far, "alice")
    closing = [
        portal_socket(near, intruder),
        stream(near, Authorization=basic("alice", PASSWORD)),
        stream(near, Authorization=basic("alice", owner.key)),
    ]
    kept = [
        portal_socket(near, portal_login(near, "dave")),
        stream(near, Authorization=basic("dave", writer.key)),
    ]
    alice.get(f"{far.url}/password/change/")
    form = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    changed = alice.post(
        f"{far.url}/password/change/",
        {**form, "csrfmiddlewaretoken": alice.cookies["csrftoken"]},
        allow_redirects=False,
    )
    deadline = time.monotonic() + 1
    assert changed.status_code == 302, changed.text[-500:]
    assert [close_code(s, deadline) for s in closing] == [4401, 4401, 4401]
    assert all(still_open(s) for s in kept)


def test_deactivating_a_user_closes_their_sockets_in_every_process(web, owner, writer):
    near, far = web
    closing = [
        portal_socket(near, portal_login(near, "dave")),
        stream(near, Authorization=basic("dave", writer.key)),
        stream(far, Authorization=basic("dave", PASSWORD)),
    ]
    kept = stream(far, Authorization=basic("alice", owner.key))
    # The operator's command: a third process, on the same channel layer.
    result = subprocess.run(
        [sys.executable, "manage.py", "deactivate_user", "dave"],
        cwd=ROOT,
        env=near.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    deadline = time.monotonic() + 1
    assert result.returncode == 0, result.stderr
    assert [close_code(s, deadline) for s in closing] == [4401, 4401, 4401]
    assert still_open(kept)


def test_a_key_expiring_while_its_stream_is_open_closes_it_on_time(web, owner):
    near, _ = web
    expires = timezone.now() + timedelta(seconds=5)  # room for a slow handshake on a busy machine
    key = make_key(owner.user, label="short", expires_at=expires)
    socket = stream(near, f"{EVENTS}?user=alice&token={key}")
    left = (expires - timezone.now()).total_seconds()
    assert close_code(socket, time.monotonic() + left - 0.3) is None  # open until it expires
    assert close_code(socket, time.monotonic() + 1.3) == 4401
    assert timezone.now() <= expires + timedelta(seconds=1)
