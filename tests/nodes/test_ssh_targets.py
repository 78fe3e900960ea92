"""BYO over SSH as a write member would abuse it: to reach the control plane's own services
(loopback, its interfaces, the cloud's metadata address) and to scan ports by reading the
error. Requests go through the API; the attempt runs as the worker runs it
(`services.ssh_install_run`); the targets are real sockets on this machine."""

import json
import logging
import socket
import subprocess
import threading
import time

import pytest

from agentapi import services, ssh
from agentapi.models import SshInstall
from nodes.models import RegistrationToken

pytestmark = pytest.mark.django_db

BASE = "/api/v1/orgs/acme/byo-ssh/"
PASSWORD = "s3cret-pass-word"


@pytest.fixture
def queued(monkeypatch):
    ids = []
    monkeypatch.setattr("agentapi.tasks.ssh_install_run.delay", ids.append)
    return ids


@pytest.fixture
def quick(monkeypatch):
    """Shorter timeouts, so that each failure's minimum time is a second, not ten."""
    monkeypatch.setattr(ssh, "CONNECT_TIMEOUT", 1.0)
    monkeypatch.setattr(ssh, "UNREACHABLE_AFTER", 1.0, raising=False)


class Listener:
    """A TCP server on this machine that counts connections and answers like a web server
    (or, `silent`, says nothing): what a scan would find behind an address."""

    def __init__(self, address: str = "127.0.0.1", silent: bool = False):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((address, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.silent, self.accepted, self.held = silent, 0, []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.silent:
                self.held.append(conn)
                continue
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def listener():
    made = []

    def make(*args, **kwargs) -> Listener:
        made.append(Listener(*args, **kwargs))
        return made[-1]

    yield make
    for one in made:
        one.close()


def _request(person, host: str, port: int = 22):
    return person.client().post(
        BASE, {"host": host, "port": port, "password": PASSWORD}, format="json"
    )


def _attempt(person, host: str, port: int = 22) -> tuple[dict, float]:
    """Ask through the API, run the attempt as the worker does; the API's answer after it."""
    response = _request(person, host, port)
    assert response.status_code == 202, response.content
    install = SshInstall.objects.get(uuid=response.json()["uuid"])
    started = time.monotonic()
    services.ssh_install_run(install_id=install.pk)
    took = time.monotonic() - started
    return person.client().get(response.json()["resource_uri"]).json(), took


def _own_address() -> str:
    """One of this machine's global IPv4 addresses (iproute2 is one of the suite's tools)."""
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    for link in json.loads(out):
        for addr in link.get("addr_info", []):
            if addr.get("scope") == "global":
                return addr["local"]
    pytest.fail("this machine has no global IPv4 address to test with")


# -- addresses the worker must never connect to -----------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # the cloud's metadata service
        "169.254.0.1",
        "127.0.0.1",
        "127.8.9.10",
        "0:0:0:0:0:0:0:1",  # ::1 (a leading ':' is refused as a malformed name anyway)
        "[0:0:0:0:0:0:0:1]",
        "0:0:0:0:0:ffff:a9fe:a9fe",  # ::ffff:169.254.169.254
        "0::ffff:127.0.0.1",
        "fe80::1",
        "fe80::1%eth0",
        "0.0.0.0",  # noqa: S104 (a target, not a bind)
        "0.1.2.3",
        "0::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
    ],
)
def test_loopback_link_local_and_metadata_literals_are_a_400(writer, queued, host):
    response = _request(writer, host)
    assert response.status_code == 400, response.content
    assert "not reachable over SSH" in response.json()["fields"]["host"][0]
    assert not SshInstall.objects.exists() and not RegistrationToken.objects.exists()
    assert queued == []


def test_a_name_resolving_to_loopback_is_never_connected_to(
    writer, queued, listener, quick, caplog
):
    target = listener()
    with caplog.at_level(logging.INFO, logger="agentapi.ssh"):
        done, _ = _attempt(writer, "localhost", target.port)
    assert done["state"] == "Failed"
    assert done["error"] == f"could not connect to localhost:{target.port} over SSH"
    assert target.accepted == 0
    assert "loopback" in caplog.text and "loopback" not in str(done)


def test_the_control_plane_own_addresses_are_refused(
    writer, queued, listener, quick, settings, caplog
):
    own = _own_address()
    target = listener("0.0.0.0")  # noqa: S104 (every interface: the one named must not connect)
    with caplog.at_level(logging.INFO, logger="agentapi.ssh"):
        done, _ = _attempt(writer, own, target.port)
    assert done["error"] == f"could not connect to {own}:{target.port} over SSH"
    assert target.accepted == 0
    assert f"{own} is the control plane's own address" in caplog.text
    # The address its public URL names (a load balancer's, say) as well.
    settings.DC_PUBLIC_URL = "http://198.51.100.77:8000"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="agentapi.ssh"):
        done, _ = _attempt(writer, "198.51.100.77")
    assert done["error"] == "could not connect to 198.51.100.77:22 over SSH"
    assert "198.51.100.77 is the control plane's own address" in caplog.text


def test_every_address_of_a_name_is_checked_and_the_checked_one_is_used(
    writer, queued, listener, quick, monkeypatch
):
    """DNS is the boundary here (no resolver we control): getaddrinfo answers as a hostile
    name server would, with a public address next to loopback, then with loopback only."""
    target = listener()
    public = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.51.100.9", target.port))
    loopback = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", target.port))
    answers = {"mixed.example": [[public, loopback]], "rebind.example": [[public], [loopback]]}
    asked, real = [], socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in answers:
            return real(host, *args, **kwargs)
        asked.append(host)
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    done, _ = _attempt(writer, "mixed.example", target.port)
    assert done["error"] == f"could not connect to mixed.example:{target.port} over SSH"
    # The second lookup would say loopback: there is none, the checked address is dialled.
    done, _ = _attempt(writer, "rebind.example", target.port)
    assert done["error"] == f"could not connect to rebind.example:{target.port} over SSH"
    assert asked == ["mixed.example", "rebind.example"]
    assert target.accepted == 0


# -- one answer for everything that is not an SSH server ----------------------------------------


def test_closed_silent_and_non_ssh_ports_and_unknown_names_look_alike(
    writer, queued, listener, quick, settings, caplog
):
    settings.DC_SSH_ALLOW_LOCAL_TARGETS = True  # the lab's setting: loopback ports to probe
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    web, silent = listener(), listener(silent=True)
    targets = [
        ("127.0.0.1", closed),
        ("127.0.0.1", web.port),
        ("127.0.0.1", silent.port),
        ("no-such-host.invalid", 22),
        ("a..b", 22),  # not even encodable for the resolver
    ]
    with caplog.at_level(logging.INFO, logger="agentapi.ssh"):
        answers = [_attempt(writer, host, port) for host, port in targets]
    for (host, port), (done, took) in zip(targets, answers, strict=True):
        assert done["state"] == "Failed"
        assert done["error"] == f"could not connect to {host}:{port} over SSH"
        assert done["action"]["error"] == done["error"]
        assert done["host_key_fingerprint"] == ""
        assert took >= 1.0  # UNREACHABLE_AFTER: a refusal is not told by its speed either
    # The detail is the operator's, in the server's log.
    for detail in ("connection refused", "unknown host"):
        assert detail in caplog.text
        assert not any(detail in str(done) for done, _ in answers)
    assert web.accepted == 1 and silent.accepted == 1


def test_the_setting_is_what_lets_loopback_through(settings):
    from agentapi import ssh_targets

    settings.DC_SSH_ALLOW_LOCAL_TARGETS = False
    with pytest.raises(ssh_targets.TargetRefused):
        ssh_targets.resolve("127.0.0.1", 22)
    settings.DC_SSH_ALLOW_LOCAL_TARGETS = True
    assert ssh_targets.resolve("127.0.0.1", 22) == [(socket.AF_INET, ("127.0.0.1", 22))]
    assert ssh_targets.literal_refusal("169.254.169.254") is None
