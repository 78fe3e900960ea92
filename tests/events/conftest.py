"""Websocket tests run the real ASGI application with Channels' in-memory layer.

Consumers reach the database from other threads, so these tests use `transactional_db`.
"""

import json
import time
from urllib.parse import unquote, urlsplit

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.layers import channel_layers
from django.db import connections
from django.test import Client

from accounts.audit import Actor
from nodes import services as node_services
from tests.nodes.test_registration import FACTS, make_csr

HOST = "testserver"


class WebsocketCommunicator(ApplicationCommunicator):
    """Channels' test communicator, minus `channels.testing` (which imports daphne), plus the
    ASGI denial-response extension uvicorn offers (`websocket.http.response`)."""

    def __init__(self, app, path: str, headers=None, denial_response: bool = False):
        parsed = urlsplit(path)
        scope = {
            "type": "websocket",
            "path": unquote(parsed.path),
            "query_string": parsed.query.encode(),
            "headers": headers or [],
            "subprotocols": [],
            "client": ("127.0.0.1", 50000),
            "extensions": {"websocket.http.response": {}} if denial_response else {},
        }
        super().__init__(app, scope)

    async def connect(self, timeout: float = 3):
        """(True, None) when accepted; (False, close code or HTTP status) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        if response["type"] == "websocket.http.response.start":
            self.denial = response
            self.denial_body = (await self.receive_output(timeout)).get("body", b"")
            return False, response["status"]
        assert response["type"] == "websocket.accept", response
        return True, None

    async def send_to(self, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def send_json_to(self, data) -> None:
        await self.send_to(json.dumps(data))

    async def receive_from(self, timeout: float = 3) -> str:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return response.get("text") or response.get("bytes")

    async def receive_json_from(self, timeout: float = 3):
        return json.loads(await self.receive_from(timeout))

    async def receive_close(self, timeout: float = 3) -> int:
        """The close code of a socket the application closes (skipping frames before it)."""
        while True:
            response = await self.receive_output(timeout)
            if response["type"] == "websocket.close":
                return response.get("code", 1000)

    async def disconnect(self, code: int = 1000, timeout: float = 3) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


@pytest.fixture(autouse=True)
def short_lived_connections():
    """Consumers' threads close their connections after each use, as with CONN_MAX_AGE=0, so
    none is left open on the test database when it is dropped."""
    config = connections.settings["default"]
    saved = config.get("CONN_MAX_AGE", 0)
    config["CONN_MAX_AGE"] = 0
    yield
    config["CONN_MAX_AGE"] = saved


@pytest.fixture
def layer(settings):
    """A fresh in-memory channel layer for this test (and no Redis)."""
    memory = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    settings.CHANNEL_LAYERS = {"default": memory, "events": memory}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def probes(monkeypatch):
    """Node ids of the probes agents' messages queued, counted where they would cross into the
    broker (nothing here runs a worker)."""
    queued = []
    monkeypatch.setattr("nodes.tasks.probe_node.delay", queued.append)
    return queued


def run(scenario):
    """Run an `async def scenario()` to completion on one event loop."""
    return async_to_sync(scenario)()


def application():
    from dockercloud.asgi import application

    return application


def register_node(person, hostname: str = "web-1"):
    """A registered node of `person.org` and its agent secret (through the real services)."""
    _, token = node_services.registration_token_create(
        actor=Actor(user=person.user), organization=person.org
    )
    result = node_services.node_register(
        token=token,
        csr=make_csr(hostname),
        facts=FACTS | {"hostname": hostname},
        remote_ip="10.250.0.9",
    )
    return result["node"], result["secret"]


def agent_socket(node, secret: str) -> WebsocketCommunicator:
    auth = f"Agent {node.uuid}:{secret}".encode()
    return WebsocketCommunicator(application(), "/ws/agent/", headers=[(b"authorization", auth)])


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def browser_socket(cookie: str | None, path: str = "/ws/events/", origin=f"http://{HOST}"):
    """A browser's socket; `cookie` from `session_cookie(user)` (made outside async code)."""
    headers = [(b"host", HOST.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application(), path, headers=headers)


def api_socket(path: str, authorization: str | None) -> WebsocketCommunicator:
    headers = [(b"host", HOST.encode())]
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    return WebsocketCommunicator(application(), path, headers=headers, denial_response=True)


async def receive_until(socket, predicate, *, timeout: float = 3.0, what: str = "a frame"):
    """Frames (JSON) until one matches `predicate`; return (match, frames before it)."""
    deadline = time.monotonic() + timeout
    before = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what}; got {before}")
        try:
            frame = await socket.receive_json_from(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; got {before}") from None
        if predicate(frame):
            return frame, before
        before.append(frame)
