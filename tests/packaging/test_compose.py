"""The product as a user deploys it: docker-compose.yml (web x2, worker, beat, migrate,
PostgreSQL, Redis, the TLS proxy) built from the repository's Dockerfiles and run on a lab
host's own dockerd, then a second lab host joins as a node through the proxy on 443.

No image registry is reachable here: the base is a Debian bookworm rootfs built with mmdebstrap
from Debian's packages (cached under the testenv dir) and given to every Dockerfile as
BASE_IMAGE, and the Python requirements go into the build context as wheels built on this
machine (the lab hosts have no route out, so neither apt nor pip could fetch during the build).
The compose file is driven by Debian's docker-compose (v1.29), unchanged.

Runs as its own phase of `make test`, beside the main suite (scripts/test.sh).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lab import debian

from . import build
from .conftest import CGROUP_ROOT, cgroup_of

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(1200)]

# What the product's Dockerfiles would install on debian:bookworm-slim, put in the base ahead.
BASE_PACKAGES = (
    "ca-certificates", "nginx-light", "openssl", "postgresql-15", "python3", "python3-venv",
    "redis-server",
)  # fmt: skip
BASE_IMAGE = ("local/debian", "bookworm-dockercloud")
IMAGE = "dockercloud:packaging-test"
PROJECT = "dcpkg"
PASSWORD = "first-user-Secret-1"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKER_TMPFS = "4g"  # an upper bound: about 1.5 GiB is used (the base, the images, the volumes)


def say(message: str) -> None:
    """Progress and figures in the phase's log (the build takes minutes)."""
    print(f"packaging: {message}", file=sys.stderr, flush=True)


def wait_for(condition, *, timeout: float, message: str, seen=None, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" ({seen()})" if seen else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}{detail}")
        time.sleep(interval)


class Compose:
    """`docker-compose` inside the server host, on the context's compose file."""

    def __init__(self, host, context: Path, env: dict):
        self.host, self.context = host, context
        self.env = {
            **env,
            "COMPOSE_PROJECT_NAME": PROJECT,
            "COMPOSE_HTTP_TIMEOUT": "600",
            "DOCKER_BUILDKIT": "0",
        }

    def __call__(self, *args: str, timeout: float = 300, check: bool = True):
        cmd = ["docker-compose", "--no-ansi", "-f", str(self.context / "docker-compose.yml"),
               "--project-directory", str(self.context), *args]  # fmt: skip
        result = self.host.run(cmd, env=self.env, timeout=timeout, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"docker-compose {' '.join(args)} failed:\n{result.stdout[-4000:]}\n"
                        f"{result.stderr[-4000:]}\n{self.logs()}")  # fmt: skip
        return result

    def logs(self) -> str:
        out = self.host.run(
            ["docker-compose", "--no-ansi", "-f", str(self.context / "docker-compose.yml"),
             "--project-directory", str(self.context), "logs", "--no-color", "--tail", "40"],
            env=self.env, timeout=60, check=False,
        )  # fmt: skip
        return f"---- compose logs ----\n{out.stdout[-12000:]}"


def _cpu_seconds(host, cgroup: str) -> float:
    """CPU seconds used so far by the host's containers (their cgroup, removed ones included)
    and by the daemons running in it."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = int((CGROUP_ROOT / "cpuacct" / cgroup.lstrip("/") / "cpuacct.usage").read_text()) / 1e9
    for pid in host.processes():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def _basic(username: str, password: str) -> dict:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _trust(node, cert: Path, tmp_path: Path) -> None:
    """What an operator does on a node for a self-signed proxy certificate: add it to the
    system's trust store (here a bind mount over the bundle, private to the node's namespace)."""
    bundle = tmp_path / "ca-certificates.crt"
    bundle.write_bytes(SYSTEM_CA_BUNDLE.read_bytes() + b"\n" + cert.read_bytes())
    node.run(["mount", "--bind", str(bundle), str(SYSTEM_CA_BUNDLE)])


def test_compose_topology_serves_through_the_tls_proxy_and_a_node_joins(
    lab_hosts_between_sessions, tmp_path
):
    cache = build.cache_dir()
    started = time.monotonic()
    base_tar = debian.rootfs_tar(cache, BASE_PACKAGES)
    say(f"Debian base rootfs {base_tar.stat().st_size / 2**20:.0f} MiB, ready in "
        f"{time.monotonic() - started:.1f} s")  # fmt: skip
    started = time.monotonic()
    context = build.context(tmp_path / "context", build.wheels(cache))
    say(f"wheels and build context ready in {time.monotonic() - started:.1f} s")

    server, node = lab_hosts_between_sessions(2)
    # The server's images and volumes live in memory (private to its mount namespace): the
    # build's writes stay off the shared disk, and they are gone with the host at once instead
    # of a slow removal of a few hundred thousand files.
    server.run(["mount", "-t", "tmpfs", "-o", f"size={DOCKER_TMPFS},mode=711", "tmpfs",
                "/var/lib/docker"])  # fmt: skip
    # Every container of this daemon (the build steps too) in a cgroup of its own, so the
    # CPU the phase costs can be read there (a fair figure on a shared machine).
    cgroup = cgroup_of(server)  # removed with the host
    server.start_dockerd(["--cgroup-parent", cgroup])
    client = server.docker_client(timeout=600)
    started = time.monotonic()
    debian.import_image(client, base_tar, *BASE_IMAGE)
    say(f"base image imported in {time.monotonic() - started:.1f} s")

    # The user's steps (docs/DEPLOY.md): secrets, the public URL, build, up.
    subprocess.run(["sh", "docker/make-secrets.sh"], cwd=context, check=True, capture_output=True)
    public_url = f"https://{server.address}"
    compose = Compose(
        server,
        context,
        {"DC_PUBLIC_URL": public_url, "BASE_IMAGE": ":".join(BASE_IMAGE), "DC_IMAGE": IMAGE},
    )
    started = time.monotonic()
    built = compose("build", timeout=900)
    build_seconds = time.monotonic() - started
    (tmp_path / "build.log").write_text(built.stdout + built.stderr)
    image = client.images.get(IMAGE)
    say(
        f"images built in {build_seconds:.1f} s; product image {image.attrs['Size'] / 2**20:.0f}"
        f" MiB (base {client.images.get(':'.join(BASE_IMAGE)).attrs['Size'] / 2**20:.0f} MiB)"
    )
    for layer in sorted(image.history(), key=lambda h: -h["Size"])[:6]:
        say(f"  layer {layer['Size'] / 2**20:6.1f} MiB  {layer['CreatedBy'][:90]}")
    config = image.attrs["Config"]
    assert config["User"] == "dockercloud"
    assert config["Healthcheck"]["Test"] == ["CMD", "dockercloud-healthcheck"]
    assert config["Entrypoint"] == ["dockercloud"] and config["Cmd"] == ["web"]

    try:
        started = time.monotonic()
        # Returns once web1 and web2 are healthy (the proxy waits on their health checks).
        compose("up", "-d", timeout=300)
        say(f"topology up in {time.monotonic() - started:.1f} s")
        _walk_the_deployment(server, node, compose, context, public_url, tmp_path)
    finally:
        started = time.monotonic()
        compose("down", "--volumes", "--timeout", "5", timeout=120, check=False)
        project = {"label": f"com.docker.compose.project={PROJECT}"}
        left = client.containers.list(all=True, filters=project)
        client.close()
        say(f"compose down in {time.monotonic() - started:.1f} s")
        here = sum(
            getattr(resource.getrusage(who), field)
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            for field in ("ru_utime", "ru_stime")
        )  # this process and what it ran: pip wheel, docker-compose, the install command
        say(f"CPU: {_cpu_seconds(server, cgroup):.0f} s in the server host's daemons and "
            f"containers, {here:.0f} s in the test and the commands it ran")  # fmt: skip
        assert left == [], f"containers left after compose down: {left}"


def _walk_the_deployment(server, node, compose: Compose, context: Path, public_url, tmp_path):
    cert = context / "tls" / "cert.pem"  # made by the proxy on its first start
    assert cert.is_file(), "the proxy made no self-signed certificate"
    https = requests.Session()
    https.trust_env = False
    https.verify = str(cert)

    health = https.get(f"{public_url}/healthz", timeout=10)
    assert health.status_code == 200, health.text
    report = health.json()
    assert report["status"] == "ok", report
    assert all(report[name]["ok"] for name in ("database", "cache", "broker", "channel_layer"))
    assert health.headers.get("Strict-Transport-Security")  # production settings, behind TLS
    plain = requests.get(f"http://{server.address}/nodes/", allow_redirects=False, timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"{public_url}/nodes/"

    states = compose("ps", timeout=60).stdout
    for service in ("web1", "web2", "worker", "beat", "proxy", "postgres", "redis"):
        assert f"{PROJECT}_{service}_1" in states, states
    assert "Exit 0" in states.split(f"{PROJECT}_migrate_1", 1)[1].splitlines()[0], states

    # The first user, as the guide says: createsuperuser through the one-shot web container.
    compose(
        "run", "--rm", "--no-deps", "-e", f"DJANGO_SUPERUSER_PASSWORD={PASSWORD}", "web1",
        "manage", "createsuperuser", "--noinput", "--username", "admin",
        "--email", "admin@example.test", timeout=120,
    )  # fmt: skip
    auth = _basic("admin", PASSWORD)
    made = https.post(f"{public_url}/api/v1/orgs/", json={"name": "acme"}, headers=auth, timeout=10)
    assert made.status_code == 201, made.text
    token = https.post(f"{public_url}/api/infra/v1/acme/token/", headers=auth, timeout=10)
    assert token.status_code == 201, token.text
    command = token.json()["command"]
    assert command.startswith(f"curl -fsSL {public_url}/install/dcr_")

    # The node trusts the proxy's certificate and runs the install command: it fetches the
    # script and the agent through the proxy, registers, and keeps its websocket there.
    _trust(node, cert, tmp_path)
    started = time.monotonic()
    installed = node.run(["sh", "-c", command], check=False, timeout=240)
    assert installed.returncode == 0, f"install failed:\n{installed.stdout}\n{installed.stderr}"

    def deployed():
        listed = https.get(f"{public_url}/api/infra/v1/acme/node/", headers=auth, timeout=10)
        nodes = listed.json()["objects"]
        return nodes[0] if nodes and nodes[0]["state"] == "Deployed" else None

    def seen():
        listed = https.get(f"{public_url}/api/infra/v1/acme/node/", headers=auth, timeout=10)
        agent = node.run("tail -n 20 /var/log/dockercloud/agent.log", check=False).stdout
        return f"{json.dumps(listed.json()['objects'])[:2000]}; agent log:\n{agent}"

    found = wait_for(deployed, timeout=60, message="the node to be Deployed", seen=seen)
    say(f"node installed and Deployed in {time.monotonic() - started:.1f} s")
    # Registered from its own address (the proxy is a trusted one), reached over mutual TLS.
    assert found["public_ip"] == node.address
    assert found["connection"] == "direct"
    # The agent's control channel is a websocket through the proxy (Upgrade passed through).
    agent_log = node.run("cat /var/log/dockercloud/agent.log", check=False).stdout
    wss = public_url.replace("https://", "wss://", 1)
    assert f"control channel connected to {wss}/ws/agent/" in agent_log, agent_log[-3000:]
