"""BYO over SSH without a lab: key and fingerprint parsing, the API's rules and access, and
whole attempts against an in-process paramiko server (auth, host key pinning, exit codes)."""

import base64
import io
import socket
import threading
from dataclasses import dataclass, field

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from accounts.audit import Actor
from accounts.models import AuditEntry
from agentapi import services, ssh
from agentapi.artifact import agent_pyz
from agentapi.models import SshInstall
from nodes.models import Action, RegistrationToken

pytestmark = pytest.mark.django_db

SSH_PASSWORD = "s3cret-pass-word"
BASE = "/api/v1/orgs/acme/byo-ssh/"


def private_key_text(kind: str = "ed25519", fmt: str = "openssh", passphrase: bytes = b"") -> str:
    key = {
        "ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
        "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }[kind]()
    encoding = serialization.PrivateFormat.OpenSSH if fmt == "openssh" else None
    if encoding is None:
        encoding = serialization.PrivateFormat.TraditionalOpenSSL
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, encoding, encryption).decode()


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,fmt", [("ed25519", "openssh"), ("ecdsa", "openssh"), ("ecdsa", "pem"), ("rsa", "pem")]
)
def test_private_keys_of_the_usual_types_parse(kind, fmt):
    key = ssh.load_private_key(private_key_text(kind, fmt).replace("\n", "\r\n"))
    assert isinstance(key, paramiko.PKey)


def test_a_passphrase_protected_key_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="passphrase"):
        ssh.load_private_key(private_key_text("ed25519", passphrase=b"pw"))


def test_garbage_is_not_a_key():
    with pytest.raises(ValueError, match="Not a private key"):
        ssh.load_private_key("ssh-ed25519 AAAA... a public key")


def test_fingerprints_are_normalized_to_openssh_form():
    digest = base64.b64encode(bytes(range(32))).decode().rstrip("=")
    assert ssh.normalize_fingerprint(f"SHA256:{digest}") == f"SHA256:{digest}"
    assert ssh.normalize_fingerprint(f"  sha256:{digest}=  ") == f"SHA256:{digest}"
    assert ssh.normalize_fingerprint(digest) == f"SHA256:{digest}"
    assert ssh.normalize_fingerprint("SHA256:tooshort") is None
    assert ssh.normalize_fingerprint("aa:bb:cc") is None


def test_install_command_uses_sudo_only_for_other_users():
    args = {"base": "http://cp:8000", "token": "dcr_x"}
    sha = agent_pyz()[1]
    assert (
        ssh.install_command(**args, username="root", sudo_password=True)
        == f"curl -fsSL http://cp:8000/install/dcr_x | sh -s -- --sha256 {sha}"
    )
    assert ssh.install_command(**args, username="ops", sudo_password=True) == (
        f"sudo -S -p '' sh -c 'curl -fsSL http://cp:8000/install/dcr_x | sh -s -- --sha256 {sha}'"
    )
    assert ssh.install_command(**args, username="ops", sudo_password=False).startswith("sudo -n ")


# --- API: rules and access ------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Task ids queued on commit (the broker is never touched)."""
    ids = []
    monkeypatch.setattr("agentapi.tasks.ssh_install_run.delay", ids.append)
    return ids


def _create(person, body, **kwargs):
    return person.client().post(BASE, body, format="json", **kwargs)


def test_create_answers_202_with_the_action_and_keeps_secrets_encrypted(
    owner, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(owner, {"host": "10.0.0.5", "password": SSH_PASSWORD})
    assert response.status_code == 202, response.content
    body = response.json()
    install = SshInstall.objects.get()
    assert queued == [install.pk]  # an id, never a secret
    assert body["uuid"] == str(install.uuid) and body["state"] == "Pending"
    assert body["resource_uri"] == f"{BASE}{install.uuid}/"
    assert response["X-DockerCloud-Action-URI"] == body["action"]["resource_uri"]
    assert body["action"]["action"] == "Node BYO over SSH"
    assert (body["port"], body["username"], body["auth_method"]) == (22, "root", "password")
    assert SSH_PASSWORD not in response.content.decode()
    assert SSH_PASSWORD not in install.password_encrypted
    assert install.get_secret("password") == SSH_PASSWORD
    assert install.get_secret("token").startswith("dcr_")
    assert RegistrationToken.objects.get() == install.registration_token
    assert Action.objects.get() == install.action and install.action.state == "Pending"
    assert SSH_PASSWORD not in install.action.body
    entry = AuditEntry.objects.get(action="node.byo_ssh")
    assert entry.actor == owner.user and SSH_PASSWORD not in str(entry.data)

    detail = owner.client().get(f"{BASE}{install.uuid}/")
    assert detail.status_code == 200 and detail.json()["uuid"] == str(install.uuid)
    listed = owner.client().get(BASE).json()
    assert [o["uuid"] for o in listed["objects"]] == [str(install.uuid)]
    assert listed["meta"]["total_count"] == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({"host": "", "password": "x"}, "host"),
        ({"host": "bad host!", "password": "x"}, "host"),
        ({"host": "h", "port": 0, "password": "x"}, "port"),
        ({"host": "h", "port": 65536, "password": "x"}, "port"),
        ({"host": "h", "username": "a b", "password": "x"}, "username"),
        ({"host": "h"}, "password"),
        ({"host": "h", "password": "x", "private_key": "k"}, "password"),
        ({"host": "h", "private_key": "not a key"}, "private_key"),
        ({"host": "h", "password": "x", "host_key_fingerprint": "MD5:aa"}, "host_key_fingerprint"),
        ({"host": "h", "password": "x", "secret": "?"}, "secret"),
    ],
)
def test_invalid_requests_are_400_naming_the_field_and_create_nothing(owner, queued, body, field):
    response = _create(owner, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not SshInstall.objects.exists() and not RegistrationToken.objects.exists()


def test_private_key_request_is_accepted(owner, queued):
    response = _create(owner, {"host": "node.example.com", "private_key": private_key_text()})
    assert response.status_code == 202, response.content
    assert response.json()["auth_method"] == "key"
    assert "PRIVATE KEY" not in response.content.decode()


def test_anonymous_gets_401(anon, owner):
    assert anon.get(BASE).status_code == 401
    assert anon.post(BASE, {"host": "h", "password": "x"}, format="json").status_code == 401


def test_outsider_gets_404_and_creates_nothing(owner, outsider, queued, local_targets):
    install = _make_install(owner)
    assert outsider.client().get(BASE).status_code == 404
    assert outsider.client().get(f"{BASE}{install.uuid}/").status_code == 404
    assert _create(outsider, {"host": "h", "password": "x"}).status_code == 404
    # Not under their own organization either.
    own = f"/api/v1/orgs/globex/byo-ssh/{install.uuid}/"
    assert outsider.client().get(own).status_code == 404
    assert SshInstall.objects.count() == 1


def test_readonly_member_reads_but_gets_403_on_create(
    owner, readonly_member, queued, local_targets
):
    install = _make_install(owner)
    assert readonly_member.client().get(f"{BASE}{install.uuid}/").status_code == 200
    assert _create(readonly_member, {"host": "h", "password": "x"}).status_code == 403
    assert SshInstall.objects.count() == 1


def test_writer_may_create(writer, queued):
    assert _create(writer, {"host": "h", "password": "x"}).status_code == 202


def test_schema_lists_the_endpoint(owner):
    paths = owner.client().get("/api/schema/?format=json").json()["paths"]
    assert "/api/v1/orgs/{ns}/byo-ssh/" in paths


# --- whole attempts against an in-process SSH server ---------------------------------------


@dataclass
class FakeSshd:
    """One-connection-at-a-time paramiko server on 127.0.0.1 that answers `exec` with a script."""

    host_key: paramiko.PKey
    client_key: paramiko.PKey
    client_key_text: str
    output: list[bytes] = field(default_factory=lambda: [b"hello\n", b"from the host\n"])
    status: int = 0
    commands: list[str] = field(default_factory=list)
    stdin: list[bytes] = field(default_factory=list)
    port: int = 0

    @property
    def fingerprint(self) -> str:
        return ssh.fingerprint(self.host_key)


class _Server(paramiko.ServerInterface):
    def __init__(self, fake: FakeSshd):
        self.fake = fake
        self.exec = threading.Event()

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_allowed_auths(self, username):
        return "password,publickey"

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL if password == SSH_PASSWORD else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        ok = key.get_base64() == self.fake.client_key.get_base64()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_exec_request(self, channel, command):
        self.fake.commands.append(command.decode())
        self.exec.set()
        return True


def _serve(fake: FakeSshd, conn: socket.socket) -> None:
    transport = paramiko.Transport(conn)
    transport.add_server_key(fake.host_key)
    server = _Server(fake)
    try:
        transport.start_server(server=server)
        channel = transport.accept(5)
        if channel is None or not server.exec.wait(5):
            return
        received = b""
        while not channel.eof_received:
            chunk = channel.recv(1024)
            if not chunk:
                break
            received += chunk
        fake.stdin.append(received)
        for chunk in fake.output:
            channel.sendall(chunk)
        channel.send_exit_status(fake.status)
        channel.close()
    except (paramiko.SSHException, EOFError, OSError):
        pass
    finally:
        transport.close()


@pytest.fixture
def local_targets(settings, monkeypatch):
    """As in the lab: the SSH servers of these tests listen on loopback, which BYO over SSH
    refuses by default (test_ssh_targets.py); failures are not held back either."""
    settings.DC_SSH_ALLOW_LOCAL_TARGETS = True
    monkeypatch.setattr(ssh, "UNREACHABLE_AFTER", 0)


@pytest.fixture
def fake_sshd(local_targets):
    host_key = paramiko.Ed25519Key.from_private_key(io.StringIO(private_key_text()))
    client_text = private_key_text()
    fake = FakeSshd(host_key, ssh.load_private_key(client_text), client_text)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    fake.port = listener.getsockname()[1]
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=_serve, args=(fake, conn), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield fake
    stop.set()
    thread.join(2)
    listener.close()


def _make_install(person, **kwargs) -> SshInstall:
    args = {"host": "127.0.0.1", "port": 22, "username": "root", "password": SSH_PASSWORD}
    args.update(kwargs)
    if "private_key" in kwargs:
        args.pop("password")
    return services.ssh_install_create(
        actor=Actor(user=person.user),
        organization=person.org,
        base_url="http://cp.test:8000",
        **args,
    )


def _run(install: SshInstall) -> SshInstall:
    services.ssh_install_run(install_id=install.pk)
    install = SshInstall.objects.select_related("action").get(pk=install.pk)
    assert not install.has_secrets  # blanked whatever happened
    assert install.finished_at is not None
    return install


def test_password_attempt_streams_output_and_succeeds(owner, fake_sshd):
    install = _run(_make_install(owner, port=fake_sshd.port))
    assert install.action.state == "Success" and install.error == ""
    assert install.host_key_fingerprint == fake_sshd.fingerprint
    assert install.host_key_type == "ssh-ed25519"
    [command] = fake_sshd.commands
    assert command.startswith("curl -fsSL http://cp.test:8000/install/dcr_")
    assert "sudo" not in command
    assert fake_sshd.stdin == [b""]  # root: the password is never sent on stdin
    logs = install.action.logs
    assert "hello\nfrom the host\n" in logs
    assert f"Host key: ssh-ed25519 {fake_sshd.fingerprint}" in logs
    token = command.split("/install/")[1].split()[0]
    assert token not in logs and SSH_PASSWORD not in logs  # the log shows neither


def test_key_attempt_with_the_expected_fingerprint_succeeds(owner, fake_sshd):
    install = _make_install(
        owner,
        port=fake_sshd.port,
        private_key=fake_sshd.client_key_text,
        host_key_fingerprint=fake_sshd.fingerprint.removeprefix("SHA256:"),
    )
    install = _run(install)
    assert install.action.state == "Success", install.error
    assert "(as expected)" in install.action.logs


def test_non_root_user_runs_through_sudo_with_the_password_on_stdin(owner, fake_sshd):
    install = _run(_make_install(owner, port=fake_sshd.port, username="deploy"))
    assert install.action.state == "Success", install.error
    assert fake_sshd.commands[0].startswith("sudo -S -p '' sh -c 'curl -fsSL ")
    assert fake_sshd.stdin == [SSH_PASSWORD.encode() + b"\n"]


def test_wrong_password_fails_with_the_auth_message(owner, fake_sshd):
    install = _make_install(owner, port=fake_sshd.port, password="wrong-password")
    install = _run(install)
    assert install.action.state == "Failed"
    assert install.error == (
        "SSH authentication failed for root@127.0.0.1: check the password or key"
    )
    assert install.action.error == install.error
    assert install.host_key_fingerprint == fake_sshd.fingerprint  # seen before authenticating
    assert fake_sshd.commands == [] and install.node is None


def test_other_host_key_is_refused_before_authenticating(owner, fake_sshd):
    other = "SHA256:" + base64.b64encode(bytes(32)).decode().rstrip("=")
    install = _run(_make_install(owner, port=fake_sshd.port, host_key_fingerprint=other))
    assert install.action.state == "Failed"
    assert install.error.startswith(f"host key mismatch for 127.0.0.1:{fake_sshd.port}: expected")
    assert fake_sshd.fingerprint in install.error
    assert fake_sshd.commands == []


def test_script_failure_reports_exit_code_and_last_lines(owner, fake_sshd):
    fake_sshd.output = [f"step {i}\n".encode() for i in range(8)] + [b"dockercloud: error: boom"]
    fake_sshd.status = 3
    install = _run(_make_install(owner, port=fake_sshd.port))
    assert install.action.state == "Failed"
    tail = "step 4\nstep 5\nstep 6\nstep 7\ndockercloud: error: boom"
    assert install.error == f"the install script failed (exit 3): {tail}"
    streamed = install.action.logs.split("Failed:")[0]
    assert [line for line in streamed.splitlines() if line.startswith("step ")] == [
        f"step {i}" for i in range(8)
    ]


def test_closed_port_is_unreachable(owner, local_targets):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once closed
    install = _run(_make_install(owner, port=port))
    assert install.action.state == "Failed"
    assert install.error == f"could not connect to 127.0.0.1:{port} over SSH"


def test_a_second_run_of_the_same_request_does_nothing(owner, fake_sshd):
    install = _run(_make_install(owner, port=fake_sshd.port))
    services.ssh_install_run(install_id=install.pk)  # a redelivered message
    assert len(fake_sshd.commands) == 1
    assert Action.objects.get(pk=install.action_id).state == "Success"


def test_stale_requests_lose_their_secrets_and_fail(owner, local_targets):
    install = _make_install(owner)
    assert services.ssh_installs_forget_stale() == 0
    SshInstall.objects.filter(pk=install.pk).update(created=install.created.replace(year=2000))
    assert services.ssh_installs_forget_stale() == 1
    install.refresh_from_db()
    assert not install.has_secrets
    assert Action.objects.get(pk=install.action_id).state == "Failed"
