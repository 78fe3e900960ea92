"""The whole agent as a process: the zipapp registers, `supervise` runs it, it starts and
supervises a real dockerd with TLS, talks to a real websocket server, runs every command.

Runs under Python 3.8 when available (the oldest Python the agent supports).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile

import pytest
from conftest import kill_pid, needs_dockerd, python38, wait_until

from dockercloud_agent import EXIT_FINAL, __version__
from dockercloud_agent.config import Paths
from dockercloud_agent.dockerapi import DockerAPI
from dockercloud_agent.dockerd import pid_alive, read_pidfile

BUSYBOX = "/bin/busybox"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def busybox_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
        for name in ("sh", "sleep"):
            link = tarfile.TarInfo("bin/" + name)
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buf.getvalue()


def https_ping(port: int, ca: str, client: tuple = ()) -> bytes:
    ctx = ssl.create_default_context(cafile=ca)
    if client:
        ctx.load_cert_chain(client[1], client[0])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            block = s.recv(65536)
            if not block:
                return data
            data += block


def is_type(kind):
    return lambda m: m.get("type") == kind


@needs_dockerd
def test_agent_end_to_end(control_plane, pyz, short_tmp):
    cp = control_plane
    py = python38() or sys.executable
    root = short_tmp
    paths = Paths(root)
    port = free_port()
    cp.heartbeat_interval = 2
    cp.upgrade_docker_command = "echo upgrading docker engine; true"
    cp.daemon = {
        "tcp": "tcp://127.0.0.1:%d" % port,
        "log_opts": {"max-size": "10m", "max-file": "3"},
        "extra_args": [
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--shutdown-timeout=3",
        ],
    }
    os.makedirs(paths.state_dir)
    shutil.copyfile(pyz, paths.pyz_file)  # where the install script puts it
    agent = [py, paths.pyz_file]
    env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")

    out = subprocess.run(
        agent + ["register", "--root", root, "--server", cp.http_url, "--token", "good-token"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    with open(os.path.join(root, "supervise.log"), "ab") as log:
        sup = subprocess.Popen(
            agent + ["supervise", "--root", root], stdout=log, stderr=log, env=env
        )
    docker = DockerAPI(paths.docker_sock)
    try:
        # --- hello, dockerd started by the agent, heartbeats
        hello = cp.wait_for(is_type("hello"), timeout=30, what="hello")
        assert hello["agent_version"] == __version__
        beat = cp.wait_for(
            lambda m: m.get("dockerd_running") is True,
            timeout=30,
            what="a heartbeat with dockerd running",
        )
        version = docker.version()["Version"]
        assert beat["docker_version"] == version
        dockerd_pid = read_pidfile(paths.dockerd_pid)
        agent_pid = read_pidfile(paths.agent_pid)
        assert pid_alive(dockerd_pid) and pid_alive(agent_pid)
        assert read_pidfile(paths.supervise_pid) == sup.pid
        with open("/proc/%d/cmdline" % dockerd_pid, "rb") as f:
            argv = f.read().split(b"\0")
        assert b"--tlsverify" in argv and b"max-size=10m" in argv

        # the daemon's TCP port needs a client certificate from the node's CA
        client = cp.ca.client_files(root)
        assert https_ping(port, paths.ca_file, client).endswith(b"OK")
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            https_ping(port, paths.ca_file)

        # --- a running container
        cid = None
        if os.path.exists(BUSYBOX):
            resp = docker.open(
                "POST",
                "/images/create?fromSrc=-&repo=dctest/busybox&tag=e2e",
                {"Content-Type": "application/x-tar"},
                busybox_tar(),
            )
            assert resp.status == 200, resp.read()
            resp.read()
            cid = docker.call(
                "POST",
                "/containers/create?name=e2e",
                {
                    "Image": "dctest/busybox:e2e",
                    "Cmd": ["/bin/sleep", "1000"],
                    "StopTimeout": 1,
                    "HostConfig": {"NetworkMode": "none"},
                },
            )["Id"]
            docker.start_container(cid)
            cp.wait_for(
                lambda m: m.get("containers") == {"running": 1, "total": 1},
                timeout=10,
                what="a heartbeat counting the container",
            )

        # --- tunnel through the channel: raw HTTP bytes to the local docker socket
        cp.send({"type": "tunnel_open", "id": "tj"})
        cp.wait_for(lambda m: m.get("id") == "tj" and m["type"] == "tunnel_opened", what="open")
        request = b"GET /containers/json?all=1 HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"
        cp.send({"type": "tunnel_data", "id": "tj", "data": base64.b64encode(request).decode()})
        cp.wait_for(lambda m: m.get("id") == "tj" and m["type"] == "tunnel_close", what="tunnel")
        parts = [m for _, m in cp.received if m.get("id") == "tj" and m["type"] == "tunnel_data"]
        raw = b"".join(base64.b64decode(m["data"]) for m in parts)
        assert raw.startswith(b"HTTP/1.1 200")
        if cid:
            assert cid.encode() in raw

        # --- upgrade_docker: dockerd restarted, containers running again
        result = cp.command("upgrade_docker", timeout=60)
        assert result["ok"], result
        assert "upgrading docker engine" in result["output"]
        assert result["data"]["docker_version"] == version
        new_dockerd = read_pidfile(paths.dockerd_pid)
        assert new_dockerd != dockerd_pid and not pid_alive(dockerd_pid)
        if cid:
            assert result["data"]["restarted_containers"] == [cid]
            assert docker.inspect_container(cid)["State"]["Running"]

        # --- the agent dies: supervise restarts it, the new one adopts dockerd
        mark = cp.mark()
        os.kill(agent_pid, signal.SIGKILL)
        cp.wait_for(is_type("hello"), timeout=20, after=mark, what="hello after a crash")
        new_agent = wait_until(
            lambda: read_pidfile(paths.agent_pid) not in (None, agent_pid), 10, "a new agent pid"
        )
        assert new_agent and read_pidfile(paths.agent_pid) != agent_pid
        assert read_pidfile(paths.dockerd_pid) == new_dockerd and pid_alive(new_dockerd)
        agent_pid = read_pidfile(paths.agent_pid)

        # --- upgrade_agent: signed, verified download, atomic replace, re-exec in place
        with open(pyz, "rb") as f:
            blob = f.read()
        cp.files["/install/agent-next.pyz"] = blob
        unsigned = {"url": "/install/agent-next.pyz", "sha256": hashlib.sha256(blob).hexdigest()}
        bad = cp.command("upgrade_agent", unsigned)
        assert not bad["ok"] and bad["error"] == "refusing an unsigned upgrade_agent"
        other = cp.signed_upgrade("/install/agent-next.pyz", b"another agent", __version__)
        bad = cp.command("upgrade_agent", other)
        assert not bad["ok"] and "sha256 mismatch" in bad["error"]
        started = cp.command("ping")["data"]["started"]
        mark = cp.mark()
        result = cp.command(
            "upgrade_agent", cp.signed_upgrade("/install/agent-next.pyz", blob, __version__)
        )
        assert result["ok"], result
        assert result["data"]["agent_version"] == __version__
        cp.wait_for(is_type("hello"), timeout=20, after=mark, what="hello after the re-exec")
        assert cp.command("ping")["data"]["started"] > started  # a new image answers
        assert read_pidfile(paths.agent_pid) == agent_pid  # same process, new image
        assert read_pidfile(paths.dockerd_pid) == new_dockerd
        assert not [n for n in os.listdir(paths.state_dir) if "download" in n]

        # --- dockerd dies: the agent starts it again
        os.kill(new_dockerd, signal.SIGKILL)
        restarted = wait_until(
            lambda: read_pidfile(paths.dockerd_pid) not in (None, new_dockerd) and docker.ping(),
            20,
            "dockerd restarted by the agent",
        )
        assert restarted
        new_dockerd = read_pidfile(paths.dockerd_pid)
        mark = cp.mark()
        cp.wait_for(
            lambda m: m.get("dockerd_running") is True,
            timeout=10,
            after=mark,
            what="a heartbeat after the dockerd restart",
        )

        # --- deregister: dockerd stopped, files removed, supervise stops for good
        result = cp.command("deregister", timeout=60)
        assert result["ok"], result
        assert sup.wait(timeout=60) == 0
        assert not pid_alive(new_dockerd)
        for path in (paths.config_file, paths.key_file, paths.cert_file, paths.ca_file):
            assert not os.path.exists(path), path
        assert not os.path.exists(paths.supervise_pid)
        with open(paths.agent_log) as f:
            text = f.read()
        assert cp.secret not in text and "deregistering" in text
        out = subprocess.run(agent + ["run", "--root", root], capture_output=True, timeout=30)
        assert out.returncode == EXIT_FINAL
    finally:
        if sup.poll() is None:
            kill_pid(sup.pid)
            sup.wait(timeout=30)
        kill_pid(read_pidfile(paths.agent_pid))
        kill_pid(read_pidfile(paths.dockerd_pid), timeout=30)
        kill_pid(read_pidfile(os.path.join(paths.docker_exec, "containerd", "containerd.pid")))
        if sys.exc_info()[0] is not None:
            for name in ("supervise.log", "var/log/dockercloud/agent.log"):
                try:
                    with open(os.path.join(root, name)) as f:
                        print("----- %s\n%s" % (name, f.read()[-6000:]))
                except OSError:
                    pass
