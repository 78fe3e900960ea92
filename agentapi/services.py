"""Bring your own host over SSH: record the request (secrets encrypted), then make one attempt.

`ssh_install_create` validates, creates a registration token and an Action, and queues the
attempt. `ssh_install_run` (the task's one call) connects, runs the install command, streams
its output into the action's log, finishes the action, and blanks the secrets whatever the
outcome. An attempt is never retried: a second one needs the secrets again, from the user.
"""

import json
import logging
import re
import uuid
from collections import deque
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.models import Organization
from core import crypto
from nodes import services as node_services
from nodes.models import RegistrationToken
from nodes.transitions import actions

from . import selectors, ssh, ssh_targets
from .models import SshAuth, SshInstall

log = logging.getLogger(__name__)

ACTION_NAME = "Node BYO over SSH"
# Host names, IPv4 and IPv6 literals (with an optional %zone); the resolver judges the rest.
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:%-]{0,253}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
TAIL_LINES = 5
REDACTED = "********"
MIN_REDACTED_LENGTH = 4  # shorter "secrets" would blank ordinary words in the log
STALE_AFTER = timedelta(hours=1)


def ssh_install_uri(organization: Organization, install_uuid) -> str:
    return f"/api/v1/orgs/{organization.name}/byo-ssh/{install_uuid}/"


def _clean(*, host, port, username, password, private_key, host_key_fingerprint) -> dict:
    """The request's fields, normalized; ValidationError({field: [message]}) otherwise."""
    errors: dict[str, list[str]] = {}
    host = (host or "").strip().removeprefix("[").removesuffix("]")
    if not host:
        errors["host"] = ["Give the host's IP address or name."]
    elif not HOST_RE.match(host):
        errors["host"] = ["Not an IP address or host name."]
    elif refused := ssh_targets.literal_refusal(host):
        errors["host"] = [refused]
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        errors["port"] = ["The port must be a number from 1 to 65535."]
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        errors["username"] = ["Not a valid user name."]
    password = password or None
    private_key = (private_key or "").strip() or None
    if password and private_key:
        errors["password"] = ["Give a password or a private key, not both."]
    elif not password and not private_key:
        errors["password"] = ["Give the password or a private key for this user."]
    elif private_key:
        try:
            ssh.load_private_key(private_key)
        except ValueError as exc:
            errors["private_key"] = [str(exc)]
    expected = ""
    if host_key_fingerprint and host_key_fingerprint.strip():
        expected = ssh.normalize_fingerprint(host_key_fingerprint) or ""
        if not expected:
            errors["host_key_fingerprint"] = [
                "Give the SHA256 fingerprint as `ssh-keygen -lf KEY.pub` prints it (SHA256:…)."
            ]
    if errors:
        raise ValidationError(errors)
    return {
        "host": host,
        "port": port,
        "username": username,
        "password": password,
        "private_key": private_key,
        "expected_fingerprint": expected,
    }


@transaction.atomic
def ssh_install_create(
    *,
    actor: Actor,
    organization: Organization,
    host: str,
    port: int = 22,
    username: str = "root",
    password: str | None = None,
    private_key: str | None = None,
    host_key_fingerprint: str | None = None,
    base_url: str,
    user_agent: str = "",
) -> SshInstall:
    """Record a BYO-over-SSH request and queue its one attempt (ids only in the task)."""
    from .tasks import ssh_install_run

    data = _clean(
        host=host,
        port=port,
        username=username,
        password=password,
        private_key=private_key,
        host_key_fingerprint=host_key_fingerprint,
    )
    install_uuid = uuid.uuid4()
    uri = ssh_install_uri(organization, install_uuid)
    public = {k: data[k] for k in ("host", "port", "username")}
    token, plaintext = node_services.registration_token_create(
        actor=actor, organization=organization
    )
    action = actions.action_create(
        actor=actor,
        organization=organization,
        action=ACTION_NAME,
        object_uri=uri,
        object_uuid=install_uuid,
        method="POST",
        path=uri.removesuffix(f"{install_uuid}/"),
        body=json.dumps(public),  # never the secrets
        user_agent=user_agent,
    )
    install = SshInstall.objects.create(
        uuid=install_uuid,
        organization=organization,
        created_by=actor.user,
        host=data["host"],
        port=data["port"],
        username=data["username"],
        auth_method=SshAuth.PASSWORD if data["password"] else SshAuth.KEY,
        password_encrypted=crypto.encrypt(data["password"]) if data["password"] else "",
        private_key_encrypted=crypto.encrypt(data["private_key"]) if data["private_key"] else "",
        token_encrypted=crypto.encrypt(plaintext),
        base_url=base_url.rstrip("/"),
        expected_fingerprint=data["expected_fingerprint"],
        action=action,
        registration_token=token,
    )
    audit_record(
        actor=actor,
        action="node.byo_ssh",
        organization=organization,
        obj=install,
        data={**public, "auth": install.auth_method},
    )
    transaction.on_commit(lambda: ssh_install_run.delay(install.pk))
    return install


def _forget_secrets(install_id: int) -> None:
    SshInstall.objects.filter(pk=install_id).update(
        password_encrypted="", private_key_encrypted="", token_encrypted=""
    )


def ssh_install_run(*, install_id: int) -> None:
    """The one attempt: Pending -> In progress -> Success | Failed. Secrets blanked after it."""
    install = selectors.ssh_install_by_id(install_id=install_id)
    if install is None:
        return
    if not actions.action_start(action_id=install.action_id):
        _forget_secrets(install.pk)  # canceled, or attempted already: nothing will use them
        return
    try:
        error = _attempt(install)
    except Exception:  # noqa: BLE001 (a bug must still fail the action, never leave it running)
        log.exception("SSH install %s failed unexpectedly", install.uuid)
        error = "internal error while running the install over SSH (see the server's log)"
    finally:
        _forget_secrets(install.pk)
    _finish(install, error)


def _redactor(secrets: list[str | None]):
    hidden = [s for s in secrets if s and len(s) >= MIN_REDACTED_LENGTH]

    def redact(line: str) -> str:
        for secret in hidden:
            line = line.replace(secret, REDACTED)
        return line

    return redact


def _attempt(install: SshInstall) -> str:
    """Connect and run the installer; "" on success, else the message for the user."""
    action_id = install.action_id
    password = install.get_secret("password")
    key_text = install.get_secret("private_key")
    token = install.get_secret("token")
    if not token or not (password or key_text):
        return "the credentials of this request are gone; start a new one"
    redact = _redactor([password, token])
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def note(line: str) -> None:
        actions.action_log(action_id=action_id, line=line)

    def on_key(key_type: str, seen: str) -> None:
        SshInstall.objects.filter(pk=install.pk).update(
            host_key_type=key_type[:64], host_key_fingerprint=seen
        )
        expected = install.expected_fingerprint
        verdict = (
            "" if not expected else " (as expected)" if seen == expected else " (NOT as expected)"
        )
        note(f"Host key: {key_type} {seen}{verdict}")

    def on_line(line: str) -> None:
        line = redact(line)
        if line.strip():
            tail.append(line)
        note(line)

    target = ssh.Target(
        host=install.host,
        port=install.port,
        username=install.username,
        password=password,
        pkey=ssh.load_private_key(key_text) if key_text else None,
        expected_fingerprint=install.expected_fingerprint or None,
    )
    command = ssh.install_command(
        base=install.base_url, token=token, username=install.username, sudo_password=bool(password)
    )
    method = install.get_auth_method_display()
    note(f"Connecting to {install.username}@{target.where} with a {method}")
    try:
        status = ssh.run(
            target,
            command,
            on_key=on_key,
            on_connected=lambda: note(f"Connected. Running: {redact(command)}"),
            on_line=on_line,
            # sudo -S reads the password first; root's shell never reads its standard input.
            stdin=f"{password}\n" if password and install.username != "root" else None,
        )
    except ssh.SshError as exc:
        return str(exc)
    if status == 0:
        return ""
    if status < 0:
        return "the SSH connection closed before the install script finished"
    return f"the install script failed (exit {status}): " + "\n".join(tail)


def _registered_node_id(install: SshInstall) -> int | None:
    if install.registration_token_id is None:
        return None
    return (
        RegistrationToken.objects.filter(pk=install.registration_token_id)
        .values_list("node_id", flat=True)
        .first()
    )


@transaction.atomic
def _finish(install: SshInstall, error: str) -> None:
    node_id = _registered_node_id(install)
    SshInstall.objects.filter(pk=install.pk).update(
        error=error, node_id=node_id, finished_at=timezone.now()
    )
    if error:
        actions.action_log(action_id=install.action_id, line=f"Failed: {error}")
    elif node_id:
        actions.action_log(
            action_id=install.action_id,
            line="Registered. The node becomes Deployed once the control plane reaches its daemon.",
        )
    else:
        actions.action_log(
            action_id=install.action_id,
            line="The install script succeeded; this host was registered before, so no new node.",
        )
    actions.action_finish(action_id=install.action_id, success=not error, error=error)


def ssh_installs_forget_stale(*, older_than: timedelta = STALE_AFTER) -> int:
    """Blank the secrets of requests no worker picked up in time, and fail their actions.

    A safety net for a lost queue message: an attempt blanks its own secrets at once.
    Returns how many requests were blanked.
    """
    cutoff = timezone.now() - older_than
    stale = SshInstall.objects.filter(created__lt=cutoff).exclude(
        password_encrypted="", private_key_encrypted="", token_encrypted=""
    )
    count = 0
    for install in stale.only("pk", "action_id"):
        _forget_secrets(install.pk)
        count += 1
        if actions.action_start(action_id=install.action_id):
            error = "no worker ran this request within an hour; start a new one"
            SshInstall.objects.filter(pk=install.pk).update(error=error, finished_at=timezone.now())
            actions.action_finish(action_id=install.action_id, success=False, error=error)
    return count
