"""The unix-socket HTTP client and the tunnel replay against a real dockerd."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid

import pytest
from conftest import wait_until

from dockercloud_agent.config import Config, Paths
from dockercloud_agent.dockerapi import DockerAPI, DockerError
from dockercloud_agent.dockerd import DockerdError, DockerdSupervisor
from dockercloud_agent.tunnel import TunnelManager


def test_client_basics(dockerd):
    api = dockerd.api
    assert api.ping()
    version = api.version()
    assert version["Version"] and version["ApiVersion"]
    assert isinstance(api.containers(), list)
    with pytest.raises(DockerError) as err:
        api.inspect_container("no-such-container")
    assert err.value.status == 404 and "No such container" in str(err.value)
    resp = api.open("HEAD", "/_ping")
    assert resp.status == 200 and resp.read() == b""
    assert not DockerAPI(dockerd.base + "/missing.sock").ping(timeout=1)


def test_chunked_events_stream_as_they_happen(dockerd):
    api = dockerd.api
    resp = api.open("GET", "/events?since=%d" % int(time.time()), timeout=None)
    assert resp.status == 200 and resp.chunked
    name = "v-" + uuid.uuid4().hex[:8]
    created = []

    def create() -> None:
        created.append(time.monotonic())
        api.call("POST", "/volumes/create", {"Name": name})

    threading.Timer(0.3, create).start()
    pieces = resp.iter_body()
    while True:  # arrives while the stream stays open (older events of this second first)
        event = json.loads(next(pieces))
        if event["Actor"]["ID"] == name:
            break
    assert (event["Type"], event["Action"]) == ("volume", "create")
    assert time.monotonic() - created[0] < 2
    started = time.monotonic()
    threading.Timer(0.2, resp.abort).start()  # cancel from another thread
    assert list(pieces) == []
    assert time.monotonic() - started < 3
    api.call("DELETE", "/volumes/" + name)

    # a bounded window ends by itself (terminating chunk)
    now = int(time.time())
    body = api.open("GET", "/events?since=%d&until=%d" % (now - 30, now + 1), timeout=10).read()
    actions = [json.loads(line)["Action"] for line in body.splitlines() if line.strip()]
    assert "create" in actions and "destroy" in actions


class Recorder:
    """Stands in for the control channel: keeps what the tunnel sends."""

    def __init__(self) -> None:
        self.all = []
        self.lock = threading.Lock()

    def send(self, message: dict) -> bool:
        with self.lock:
            self.all.append(message)
        return True

    def of(self, sid: str) -> list:
        with self.lock:
            return [m for m in self.all if m.get("id") == sid]

    def body(self, sid: str) -> bytes:
        parts = [m for m in self.of(sid) if m["type"] == "tunnel_data"]
        return b"".join(base64.b64decode(m["data"]) for m in parts)

    def closed(self, sid: str) -> bool:
        return any(m["type"] == "tunnel_close" for m in self.of(sid))


def send_bytes(tunnels: TunnelManager, sid: str, data: bytes) -> None:
    payload = base64.b64encode(data).decode()
    tunnels.handle({"type": "tunnel_data", "id": sid, "data": payload})


def test_tunnel_relays_http_bytes_both_ways(dockerd):
    rec = Recorder()
    tunnels = TunnelManager(dockerd.api.sock_path, rec.send)
    tunnels.handle({"type": "tunnel_open", "id": "v"})
    assert rec.of("v") == [{"type": "tunnel_opened", "id": "v"}]
    send_bytes(tunnels, "v", b"GET /v1.41/version HTTP/1.1\r\nHost: docker\r\n\r\n")
    wait_until(lambda: b"\r\n\r\n" in rec.body("v") and b"}" in rec.body("v"), 10, "answer")
    head, _, _ = rec.body("v").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert dockerd.api.version()["Version"].encode() in rec.body("v")
    # The server side closes: the stream ends without a notice back (it knows already).
    tunnels.handle({"type": "tunnel_close", "id": "v"})
    wait_until(lambda: tunnels.active_count == 0, 5, "stream closed")
    assert not rec.closed("v")


def test_tunnel_streams_as_the_daemon_writes_and_reports_its_close(dockerd):
    rec = Recorder()
    tunnels = TunnelManager(dockerd.api.sock_path, rec.send)
    tunnels.handle({"type": "tunnel_open", "id": "ev"})
    since = int(time.time())
    send_bytes(tunnels, "ev", b"GET /events?since=%d HTTP/1.1\r\nHost: d\r\n\r\n" % since)
    name = "sv-" + uuid.uuid4().hex[:8]
    dockerd.api.call("POST", "/volumes/create", {"Name": name})
    # Forwarded while the response is still open (chunked, never-ending).
    wait_until(lambda: name.encode() in rec.body("ev"), 5, "the volume's event")
    dockerd.api.call("DELETE", "/volumes/" + name)
    # A request with Connection: close ends from the daemon's side: we report the close.
    tunnels.handle({"type": "tunnel_open", "id": "p"})
    send_bytes(tunnels, "p", b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
    wait_until(lambda: rec.closed("p"), 5, "daemon-side close")
    assert rec.body("p").endswith(b"OK")
    assert "error" not in rec.of("p")[-1]
    tunnels.cancel_all()
    wait_until(lambda: tunnels.active_count == 0, 5, "all streams closed")


def test_tunnel_refuses_bad_messages_without_raising(dockerd, short_tmp):
    rec = Recorder()
    tunnels = TunnelManager(dockerd.api.sock_path, rec.send)
    tunnels.handle({"type": "tunnel_open"})  # no id: logged and ignored
    tunnels.handle({"type": "tunnel_open", "id": "b"})
    tunnels.handle({"type": "tunnel_data", "id": "b", "data": "***"})
    refused = {"type": "tunnel_close", "id": "b", "error": "tunnel_data is not base64"}
    assert rec.of("b")[-1] == refused
    tunnels.handle({"type": "tunnel_data", "id": "unknown", "data": "AA=="})  # ignored
    missing = TunnelManager(os.path.join(short_tmp, "nothing.sock"), rec.send)
    missing.handle({"type": "tunnel_open", "id": "m"})
    assert rec.of("m")[-1]["type"] == "tunnel_close" and "docker socket" in rec.of("m")[-1]["error"]
    assert tunnels.active_count == 0 and missing.active_count == 0


def test_many_concurrent_streams(dockerd):
    rec = Recorder()
    tunnels = TunnelManager(dockerd.api.sock_path, rec.send)
    sids = ["s%d" % i for i in range(40)]
    for sid in sids:
        tunnels.handle({"type": "tunnel_open", "id": sid})
        send_bytes(tunnels, sid, b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
    for sid in sids:
        wait_until(lambda sid=sid: rec.closed(sid), 10, "stream %s" % sid)
        assert rec.body(sid).startswith(b"HTTP/1.1 200") and rec.body(sid).endswith(b"OK")
    assert tunnels.active_count == 0


def test_supervisor_command_and_foreign_daemon(dockerd, short_tmp):
    paths = Paths(short_tmp)
    config = Config({"daemon": {"tcp": "tcp://0.0.0.0:2375", "extra_args": ["--debug"]}})
    supervisor = DockerdSupervisor(paths, config, dockerd.api)
    cmd = supervisor.command()
    assert cmd[1:] == [
        "--tlsverify",
        "--tlscacert", paths.ca_file,
        "--tlscert", paths.cert_file,
        "--tlskey", paths.key_file,
        "-H", "unix://" + paths.docker_sock,
        "-H", "tcp://0.0.0.0:2375",
        "--log-opt", "max-file=2",
        "--log-opt", "max-size=10m",
        "--pidfile", paths.dockerd_pid,
        "--data-root", paths.docker_data,
        "--exec-root", paths.docker_exec,
        "--debug",
    ]  # fmt: skip
    # a daemon the agent did not start already answers on the socket: never start a second
    with pytest.raises(DockerdError) as err:
        supervisor.ensure_started(ping_timeout=5)
    assert "not started by dockercloud" in str(err.value)
    assert supervisor.pid is None and not os.path.exists(paths.dockerd_pid)
