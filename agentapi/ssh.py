"""SSH to a user's host with paramiko: pin the host key, run one command, stream its output.

Failures come out as `SshError` whose message is meant for the user ("cannot reach ...",
"SSH authentication failed for ..."). Nothing here touches the database: the caller passes
callbacks for the host key and for each output line.
"""

import base64
import binascii
import hashlib
import io
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from . import install

CONNECT_TIMEOUT = 10  # seconds, for the TCP connection, the banner, authentication, the channel
COMMAND_TIMEOUT = 30 * 60  # installing Docker from a slow mirror can take minutes
EXIT_STATUS_WAIT = 10
KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class SshError(Exception):
    """The attempt failed; the message says why, in words for the user."""


class Unreachable(SshError):
    pass


class AuthFailed(SshError):
    pass


class HostKeyMismatch(SshError):
    pass


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    username: str
    password: str | None = None
    pkey: paramiko.PKey | None = None
    expected_fingerprint: str | None = None

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """`SHA256:…`, as `ssh-keygen -l` and OpenSSH's own prompts print it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def normalize_fingerprint(text: str) -> str | None:
    """A SHA256 fingerprint given with or without its `SHA256:` prefix; None if malformed."""
    value = text.strip()
    if value[:7].upper() == "SHA256:":
        value = value[7:]
    value = value.rstrip("=")
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != hashlib.sha256().digest_size:
        return None
    return "SHA256:" + base64.b64encode(raw).decode("ascii").rstrip("=")


def load_private_key(text: str) -> paramiko.PKey:
    """An unencrypted Ed25519, ECDSA or RSA private key (OpenSSH or PEM format).

    Raises ValueError with a message for the user otherwise.
    """
    text = text.replace("\r\n", "\n").strip() + "\n"
    for cls in KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except paramiko.PasswordRequiredException:
            raise ValueError(
                "This private key is protected by a passphrase: give an unencrypted key."
            ) from None
        except Exception:  # noqa: BLE001, S112 (paramiko raises assorted errors on other key types)
            continue
    raise ValueError(
        "Not a private key: give an Ed25519, ECDSA or RSA private key "
        "(-----BEGIN OPENSSH PRIVATE KEY----- or PEM)."
    )


def install_command(*, base: str, token: str, username: str, sudo_password: bool) -> str:
    """`curl -fsSL BASE/install/TOKEN | sh`, through sudo unless the user is root.

    sudo reads the password from standard input (`-S`, no prompt) when we log in with one;
    with a key, sudo must not ask (`-n`), so it fails at once with its own clear message.
    """
    pipeline = install.install_command(base, token, sudo=False)
    if username == "root":
        return pipeline
    sudo = "sudo -S -p ''" if sudo_password else "sudo -n"
    return f"{sudo} sh -c {shlex.quote(pipeline)}"


class PinningPolicy(paramiko.MissingHostKeyPolicy):
    """Record the server's host key; refuse it when the user expected another one.

    The client loads no known_hosts, so paramiko asks this policy about every key, before any
    password or key is sent.
    """

    def __init__(self, target: Target, on_key: Callable[[str, str], None]):
        self.target = target
        self.on_key = on_key

    def missing_host_key(self, client, hostname, key) -> None:
        seen = fingerprint(key)
        self.on_key(key.get_name(), seen)
        expected = self.target.expected_fingerprint
        if expected and seen != expected:
            raise HostKeyMismatch(
                f"host key mismatch for {self.target.where}: expected {expected}, the server "
                f"offered {key.get_name()} {seen}; not connecting"
            )


def _refusal(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return (exc.strerror or str(exc)).lower()


def connect(client: paramiko.SSHClient, target: Target) -> None:
    """Connect and authenticate, or raise an SshError that says what went wrong."""
    try:
        client.connect(
            target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            pkey=target.pkey,
            timeout=CONNECT_TIMEOUT,
            banner_timeout=CONNECT_TIMEOUT,
            auth_timeout=CONNECT_TIMEOUT,
            channel_timeout=CONNECT_TIMEOUT,
            # Only what the user gave: never the control plane's own keys or agent.
            allow_agent=False,
            look_for_keys=False,
        )
    except SshError:
        raise
    except paramiko.BadAuthenticationType as exc:
        allowed = ", ".join(exc.allowed_types) or "none"
        raise AuthFailed(
            f"SSH authentication failed for {target.username}@{target.host}: check the password "
            f"or key (the server accepts: {allowed})"
        ) from None
    except paramiko.AuthenticationException:
        raise AuthFailed(
            f"SSH authentication failed for {target.username}@{target.host}: "
            "check the password or key"
        ) from None
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        reasons = sorted({_refusal(e) for e in exc.errors.values()})
        raise Unreachable(f"cannot reach {target.where}: {', '.join(reasons)}") from None
    except OSError as exc:  # timeouts, no route, unknown host names
        raise Unreachable(f"cannot reach {target.where}: {_refusal(exc)}") from None
    except EOFError:
        raise Unreachable(f"cannot reach {target.where}: the server hung up") from None
    except paramiko.SSHException as exc:
        if "banner" in str(exc).lower():
            raise Unreachable(f"cannot reach {target.where}: no SSH server answered") from None
        raise SshError(f"SSH to {target.where} failed: {exc}") from None


def _lines(buffer: bytes) -> tuple[list[str], bytes]:
    *complete, rest = buffer.split(b"\n")
    # Progress bars redraw with "\r": keep what the line finally showed.
    text = [line.decode("utf-8", "replace").rstrip("\r") for line in complete]
    return [line.rsplit("\r", 1)[-1] for line in text], rest


def execute(
    client: paramiko.SSHClient,
    command: str,
    *,
    on_line: Callable[[str], None],
    stdin: str | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> int:
    """Run `command`, passing each output line (stdout and stderr, interleaved) as it arrives.

    Returns the exit status, -1 when the connection ended without one.
    """
    channel = client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
    channel.set_combine_stderr(True)
    channel.settimeout(1.0)
    channel.exec_command(command)
    if stdin:
        channel.sendall(stdin.encode())
    channel.shutdown_write()
    deadline = time.monotonic() + timeout
    buffer = b""
    while True:
        try:
            chunk = channel.recv(32768)
        except TimeoutError:
            chunk = None
        if chunk == b"":
            break
        if chunk:
            lines, buffer = _lines(buffer + chunk)
            for line in lines:
                on_line(line)
        if time.monotonic() > deadline:
            raise SshError(f"the command did not finish within {timeout / 60:.0f} minutes")
    if buffer:
        on_line(_lines(buffer + b"\n")[0][0])
    if not channel.status_event.wait(EXIT_STATUS_WAIT):
        return -1
    return channel.exit_status


def run(
    target: Target,
    command: str,
    *,
    on_key: Callable[[str, str], None],
    on_connected: Callable[[], None],
    on_line: Callable[[str], None],
    stdin: str | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> int:
    """Connect to `target` and run `command`; the exit status, or SshError."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(PinningPolicy(target, on_key))
    try:
        connect(client, target)
        on_connected()
        try:
            return execute(client, command, on_line=on_line, stdin=stdin, timeout=timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SshError(f"the SSH connection to {target.where} failed: {exc}") from None
    finally:
        client.close()
