"""SSH to a user's host with paramiko: pin the host key, run one command, stream its output.

Failures come out as `SshError` whose message is meant for the user. Until an SSH server has
answered, every failure (refused, timed out, no SSH banner, unknown name, an address the
control plane does not connect to: see `ssh_targets`) is the same "could not connect to
HOST:PORT over SSH", after the same minimum time, with the detail only in the server's log:
anything finer would make BYO over SSH a port scanner of the control plane's network.
Authentication failures and host key mismatches stay distinct (a real SSH server answered).
Nothing here touches the database: the caller passes callbacks for the host key and for each
output line.
"""

import base64
import binascii
import hashlib
import io
import logging
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from . import install, ssh_targets

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10  # seconds, for the TCP connection, the banner, authentication, the channel
# A failed connection is reported no sooner than this after it began: refused and timed out
# (or silent) ports then look alike from the outside.
UNREACHABLE_AFTER = CONNECT_TIMEOUT
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
    pipeline = install.install_command(base, token)
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


def _detail(exc: BaseException) -> str:
    """What went wrong before an SSH server answered: for the server's log only."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return "connection timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, EOFError):
        return "the server hung up"
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)).lower()
    return str(exc) or type(exc).__name__


def _open(target: Target) -> socket.socket:
    """A TCP connection to a checked address of the target (never a second DNS lookup)."""
    error: OSError | None = None
    for family, sockaddr in ssh_targets.resolve(target.host, target.port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError("no address")


def connect(client: paramiko.SSHClient, target: Target) -> None:
    """Connect and authenticate, or raise an SshError that says what went wrong."""
    started = time.monotonic()
    sock = None
    try:
        sock = _open(target)
        client.connect(
            target.host,
            port=target.port,
            sock=sock,
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
    except (ssh_targets.TargetRefused, OSError, EOFError, paramiko.SSHException) as exc:
        if sock is not None:
            sock.close()
        log.info("SSH to %s: could not connect: %s", target.where, _detail(exc))
        time.sleep(max(0.0, started + UNREACHABLE_AFTER - time.monotonic()))
        raise Unreachable(f"could not connect to {target.where} over SSH") from None


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
    transport = client.get_transport()
    if transport is None:
        raise paramiko.SSHException("not connected")
    channel = transport.open_session(timeout=CONNECT_TIMEOUT)
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
