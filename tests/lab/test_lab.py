"""The lab itself: hosts are reachable, isolated, run dockerd over mutual TLS and sshd, and
leave the machine as they found it."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import paramiko
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import lab
from lab import net as lab_net
from lab import state as lab_state
from lab.tls import write_tls_files

pytestmark = pytest.mark.lab

TLS_DIR = "/etc/dockercloud/tls"  # where dockerd inside the host reads its certificates
REPO_ROOT = Path(lab.__file__).resolve().parent.parent


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.02)


def ping(host: lab.Host, address: str) -> None:
    host.run(["busybox", "ping", "-c", "1", "-W", "3", address], timeout=10)


@pytest.fixture
def gateway_server():
    """A TCP server on 0.0.0.0 of the machine (like the control plane) that answers each
    connection with the peer address it saw."""
    server = socket.create_server(("0.0.0.0", 0))  # noqa: S104  like the web process
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, (peer, _) = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(f"seen {peer}\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


def test_hosts_reach_gateway_and_each_other(lab_hosts, lab_gateway, gateway_server):
    hosts = lab_hosts(3)
    connect = (
        "import socket; s = socket.create_connection(({!r}, {}), timeout=5); "
        "print(s.makefile().readline().strip())"
    )
    for host in hosts:
        ping(host, lab_gateway)
        for other in hosts:
            if other is not host:
                ping(host, other.address)
        out = host.run(["python3", "-c", connect.format(lab_gateway, gateway_server)])
        # The server saw the host's own address: routed on the bridge, no NAT.
        assert out.stdout.strip() == f"seen {host.address}"


def test_hosts_have_private_hostname_run_and_state_dirs(lab_hosts):
    first, second = lab_hosts(2)
    assert first.run("hostname").stdout.strip() == first.name
    assert second.run("hostname").stdout.strip() == second.name
    assert socket.gethostname() not in (first.name, second.name)
    assert first.run(["stat", "-f", "-c", "%T", "/run"]).stdout.strip() == "tmpfs"

    for directory in ["/run", *lab.MOUNTS]:
        path = f"{directory}/marker-{first.name}"
        first.run(["sh", "-c", 'echo mine > "$0"', path])
        assert first.run(["cat", path]).stdout == "mine\n"
        assert second.run(["test", "-e", path], check=False).returncode == 1, path
        assert not Path(path).exists(), f"{path} leaked to the machine"

    # Background processes join the host's namespaces and are counted as its own.
    daemon = first.popen(["sleep", "300"])
    wait_for(lambda: daemon.pid in first.processes())
    assert daemon.pid not in second.processes()
    assert first.holder_pid in first.processes()


def start_tls_dockerd(host: lab.Host):
    """dockerd in ``host`` on tcp/2375 with --tlsverify; returns the TLS files."""
    tls = write_tls_files(host.path(TLS_DIR), server_ips=(host.address,))
    host.start_dockerd(
        [*tls.dockerd_args(TLS_DIR), "-H", "tcp://0.0.0.0:2375", "-H", "unix:///run/docker.sock"]
    )
    return tls


def test_dockerd_in_host_runs_containers_over_mutual_tls(lab_host, busybox_tar, tmp_path):
    tls = start_tls_dockerd(lab_host)
    url = f"https://{lab_host.address}:2375"
    client = tls.docker_client(url)
    assert client.info()["Name"] == lab_host.name

    lab.import_busybox(client, tar=busybox_tar)
    out = client.containers.run("local/busybox:lab", ["echo", "hello from the lab"], remove=True)
    assert out == b"hello from the lab\n"

    # A client certificate from another CA is refused by the daemon.
    stranger = write_tls_files(tmp_path / "stranger")
    intruder = docker.DockerClient(
        base_url=url,
        tls=docker.tls.TLSConfig(
            client_cert=(str(stranger.client_cert), str(stranger.client_key)),
            ca_cert=str(tls.ca),
            verify=True,
        ),
        version="1.41",
    )
    intruder.api.trust_env = False  # see TLSFiles.docker_client
    with pytest.raises(requests.exceptions.ConnectionError):
        intruder.ping()


def test_firewalled_port_is_unreachable_but_daemon_answers_locally(lab_host):
    tls = start_tls_dockerd(lab_host)
    assert tls.docker_client(f"https://{lab_host.address}:2375").ping()

    lab_host.firewall_port(2375)

    with pytest.raises(OSError):
        socket.create_connection((lab_host.address, 2375), timeout=1).close()
    local = lab_host.run(
        ["curl", "-sf", "--unix-socket", "/run/docker.sock", "http://localhost/_ping"]
    )
    assert local.stdout == "OK"


def ssh_run(address: str, command: str, **auth) -> str:
    client = paramiko.SSHClient()
    # A fresh throwaway host key each test: nothing to pin.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    try:
        client.connect(
            address, username="root", timeout=10, look_for_keys=False, allow_agent=False, **auth
        )
        _, stdout, _ = client.exec_command(command, timeout=10)
        return stdout.read().decode()
    finally:
        client.close()


def test_sshd_accepts_password_and_key_without_touching_machine_shadow(lab_host):
    shadow_before = hashlib.sha256(Path("/etc/shadow").read_bytes()).hexdigest()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )

    lab_host.start_sshd(password="lab-secret", authorized_keys=public.decode() + " test")

    by_password = ssh_run(lab_host.address, "hostname", password="lab-secret")
    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(private))
    by_key = ssh_run(lab_host.address, "hostname", pkey=pkey)
    assert by_password.strip() == by_key.strip() == lab_host.name
    with pytest.raises(paramiko.AuthenticationException):
        ssh_run(lab_host.address, "hostname", password="wrong")
    assert hashlib.sha256(Path("/etc/shadow").read_bytes()).hexdigest() == shadow_before
    # The host's /etc/shadow is a different file, so even chpasswd inside cannot reach ours.
    inner_inode = lab_host.run(["stat", "-c", "%i", "/etc/shadow"]).stdout.strip()
    assert int(inner_inode) != Path("/etc/shadow").stat().st_ino


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def machine_network() -> dict[str, object]:
    """What the lab could leave behind, without operational state (carrier, UP/DOWN, route
    ``linkdown``), which a bridge losing its last port changes some time later.

    The lab bridge itself is left out here: :func:`test_cli_up_ls_exec_down_restores_the_machine`
    checks it on its own (it may be a leftover the lab adopts and removes).
    """
    links = {}
    for line in _run("ip", "-o", "link", "show").splitlines():
        name = line.split(": ")[1].split("@")[0]
        fields = line.split()
        master = fields[fields.index("master") + 1] if "master" in fields else ""
        links[name] = master
    links.pop(lab_net.BRIDGE, None)
    lab_dev = f"dev {lab_net.BRIDGE} "
    addresses = sorted(
        " ".join(line.split()[1:4])
        for line in _run("ip", "-o", "addr", "show").splitlines()
        if line.split()[1] != lab_net.BRIDGE
    )
    routes = sorted(
        line.replace(" linkdown", "")
        for line in _run("ip", "route", "show", "table", "all").splitlines()
        if lab_dev not in line + " "
    )
    return {
        "netns": sorted(line.split()[0] for line in _run("ip", "netns", "list").splitlines()),
        "links": links,
        "addresses": addresses,
        "routes": routes,
        "filter": _run("iptables", "-w", "-S"),
        "nat": _run("iptables", "-w", "-t", "nat", "-S"),
    }


def bridge_exists() -> bool:
    return lab_net.link_exists(lab_net.BRIDGE)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lab", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def cli_cycle(prefix: str) -> None:
    names = []
    try:
        up = cli("up", "2", "--prefix", prefix)
        created = [line.split() for line in up.stdout.splitlines()]
        names = [name for name, _ in created]
        assert len(created) == 2 and all(n.startswith(prefix) for n in names)

        listed = [line.split()[:2] for line in cli("ls").stdout.splitlines()]
        assert all(entry in listed for entry in created)
        assert cli("gateway").stdout.strip() == lab.GATEWAY
        assert cli("exec", names[0], "--", "hostname").stdout.strip() == names[0]
        assert cli("exec", names[1], "--", "sh", "-c", "exit 7", check=False).returncode == 7
        # The hosts reach the gateway: the bridge is configured even if it was a leftover.
        cli("exec", names[0], "--", "busybox", "ping", "-c1", "-W2", lab.GATEWAY)
    finally:
        if names:
            cli("down", *names)


def test_cli_up_ls_exec_down_restores_the_machine(lab_exclusive):
    bridge_before = bridge_exists()
    before = machine_network()
    cli_cycle("clitest")
    assert machine_network() == before
    if not bridge_before:
        assert not bridge_exists(), "lab down left the bridge it created"


def test_a_leftover_bridge_is_adopted_and_the_machine_restored(lab_exclusive):
    """A bridge of ours that no record claims (a run killed right after creating it, down and
    without ports) is configured for the new hosts and removed with the last of them."""
    with lab_state.locked():
        made_here = not bridge_exists() and not lab_state.all_records()
        if made_here:
            subprocess.run(["ip", "link", "add", lab_net.BRIDGE, "type", "bridge"], check=True)
    before = machine_network()
    try:
        cli_cycle("leftover")
        assert machine_network() == before
        if made_here:
            assert not bridge_exists(), "the leftover bridge was not removed with the hosts"
    finally:
        with lab_state.locked():
            if made_here and bridge_exists() and not lab_state.all_records():
                subprocess.run(["ip", "link", "del", lab_net.BRIDGE], check=False)
