"""Config files, host facts, openssl key + CSR, registration against a real HTTP server."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import stat
import subprocess
import sys

from conftest import AGENT_DIR
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from dockercloud_agent import __version__
from dockercloud_agent.config import Config, Paths, registration_state
from dockercloud_agent.facts import (
    host_facts,
    ipv4_addresses,
    metrics,
    os_pretty_name,
    parse_docker_version,
)
from dockercloud_agent.register import make_key_and_csr


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_paths_use_real_locations_by_default():
    p = Paths()
    assert p.config_file == "/etc/dockercloud/agent.json"
    assert p.key_file == "/etc/dockercloud/tls/key.pem"
    assert p.pyz_file == "/var/lib/dockercloud/dockercloud-agent.pyz"
    assert p.agent_log == "/var/log/dockercloud/agent.log"
    assert p.dockerd_pid == "/run/dockercloud/dockerd.pid"
    assert p.docker_sock == "/run/docker.sock"
    assert Paths("/tmp/x").config_file == "/tmp/x/etc/dockercloud/agent.json"


def test_config_roundtrip_is_private(tmp_path):
    paths = Paths(str(tmp_path))
    assert not Config.load(paths).is_registered()
    config = Config(
        {"server": "https://cp.example:8000/", "node_uuid": "u1", "secret": "s3cr3t", "x": 1}
    )
    config.save(paths)
    assert mode(paths.config_file) == 0o600
    loaded = Config.load(paths)
    assert loaded.data["x"] == 1 and loaded.secret == "s3cr3t"
    assert loaded.server == "https://cp.example:8000"
    assert loaded.ws_url == "wss://cp.example:8000/ws/agent/"
    assert "s3cr3t" not in repr(loaded)
    assert Config({"heartbeat_interval": 0.01}).heartbeat_interval == 1.0
    assert Config({"heartbeat_interval": "x"}).heartbeat_interval == 15
    assert Config({"daemon": {"extra_args": ["--a"]}}).daemon["tcp"] == "tcp://0.0.0.0:2375"
    assert registration_state(paths) is None  # no certificate yet


def test_host_facts_describe_this_machine():
    facts = host_facts()
    assert facts["hostname"] == socket.gethostname()
    assert facts["os"] == os_pretty_name() and facts["os"]
    with open("/etc/os-release") as f:
        assert any(facts["os"] in line for line in f if line.startswith("PRETTY_NAME="))
    assert facts["kernel"] == os.uname().release
    assert facts["arch"] == os.uname().machine
    assert facts["cpus"] == os.cpu_count()
    assert facts["memory_mb"] > 100 and isinstance(facts["disk_gb"], int)
    assert facts["agent_version"] == __version__
    for address in facts["addresses"]:
        ip = ipaddress.IPv4Address(address)
        assert not ip.is_loopback and not ip.is_link_local
    assert facts["addresses"] == ipv4_addresses()
    if facts["docker_version"] is not None:
        out = subprocess.run(["dockerd", "--version"], capture_output=True, text=True)
        assert facts["docker_version"] in out.stdout
    json.dumps(facts)  # serializable as is
    m = metrics()
    assert len(m["load"]) == 3 and m["memory"]["available_mb"] <= m["memory"]["total_mb"]
    assert 0 <= m["disk"]["free_gb"] <= m["disk"]["total_gb"]


def test_parse_docker_version():
    assert parse_docker_version("Docker version 20.10.24+dfsg1, build 5d6db84") == "20.10.24+dfsg1"
    assert parse_docker_version("Docker version 27.3.1, build ce12230") == "27.3.1"
    assert parse_docker_version("garbage") is None


def test_openssl_key_and_csr(tmp_path):
    key_path = str(tmp_path / "tls" / "key.pem")
    csr_pem = make_key_and_csr(key_path, "node-1.example")
    assert mode(key_path) == 0o600
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node-1.example"
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    assert key.key_size == 2048
    assert key.public_key().public_numbers() == csr.public_key().public_numbers()


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(AGENT_DIR))
    return subprocess.run(
        [sys.executable, "-m", "dockercloud_agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_register_writes_config_and_tls_and_is_idempotent(control_plane, tmp_path):
    root = str(tmp_path)
    paths = Paths(root)
    out = cli(
        "register",
        "--root",
        root,
        "--server",
        control_plane.http_url + "/",
        "--token",
        "good-token",
    )
    assert out.returncode == 0, out.stderr
    assert "registered: node %s" % control_plane.node_uuid in out.stdout
    request = control_plane.register_requests[0]
    assert request["token"] == "good-token"
    assert set(request["facts"]) >= {
        "hostname",
        "os",
        "kernel",
        "arch",
        "cpus",
        "memory_mb",
        "disk_gb",
        "addresses",
        "docker_version",
        "agent_version",
    }
    assert control_plane.signed_cn == socket.gethostname()[:64]
    config = Config.load(paths)
    assert config.node_uuid == control_plane.node_uuid
    assert config.secret == control_plane.secret
    assert config.server == control_plane.http_url
    assert config.ws_url == control_plane.ws_url
    assert config.upgrade_docker_command == "true"
    assert mode(paths.config_file) == 0o600 and mode(paths.key_file) == 0o600
    with open(paths.cert_file, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(paths.key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    with open(paths.ca_file) as f:
        assert f.read() == control_plane.ca.pem
    assert not [n for n in os.listdir(paths.tls_dir) if n not in ("key.pem", "cert.pem", "ca.pem")]

    # re-running install on a registered host: nothing is sent, exit 0
    out = cli("register", "--root", root, "--server", control_plane.http_url, "--token", "used")
    assert out.returncode == 0 and "already registered" in out.stdout
    assert len(control_plane.register_requests) == 1
    out = cli("status", "--root", root)
    assert out.returncode == 0 and "node_uuid: %s" % control_plane.node_uuid in out.stdout
    assert "agent: not running" in out.stdout
    out = cli("status", "--uuid", "--root", root)
    assert out.stdout.strip() == control_plane.node_uuid


def test_register_reports_the_server_error(control_plane, tmp_path):
    root = str(tmp_path)
    out = cli("register", "--root", root, "--server", control_plane.http_url, "--token", "expired")
    assert out.returncode == 1
    assert "HTTP 410" in out.stderr
    assert "registration token expired or already used" in out.stderr
    paths = Paths(root)
    assert not os.path.exists(paths.config_file)
    assert not os.path.exists(paths.key_file) and not os.path.exists(paths.key_file + ".new")
