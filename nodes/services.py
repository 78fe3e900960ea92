"""Writes on nodes: CA, registration tokens, registration, liveness, connection, deregistration."""

import functools
import ipaddress
import math
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.models import Organization
from core import crypto, tokens

from . import ca
from .addresses import node_address
from .agent_rpc import agent_disconnect
from .events import node_state_event
from .models import Connection, Node, NodeState, OrgCA, RegistrationToken

PROBE_QUEUED_TTL = 120  # seconds
MAX_CONTAINERS = 2**31 - 1  # the column's bound on every database
TOKEN_KIND = "dcr"  # noqa: S105 (a token type prefix, not a secret)
SECRET_KIND = "dca"  # noqa: S105 (a token type prefix, not a secret)
MISSED_HEARTBEATS = 3


class RegistrationRefused(Exception):
    """Registration cannot proceed; `status` is the HTTP status, the message is for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def org_ca_ensure(*, organization: Organization) -> OrgCA:
    existing = OrgCA.objects.filter(organization=organization).first()
    if existing:
        return existing
    root, client = ca.create_ca(organization.name)
    try:
        with transaction.atomic():
            return OrgCA.objects.create(
                organization=organization,
                ca_cert=root.cert_pem,
                ca_key_encrypted=crypto.encrypt(root.key_pem),
                client_cert=client.cert_pem,
                client_key_encrypted=crypto.encrypt(client.key_pem),
            )
    except IntegrityError:  # created concurrently: use the winner's
        return OrgCA.objects.get(organization=organization)


@transaction.atomic
def registration_token_create(
    *,
    actor: Actor,
    organization: Organization,
    ttl: timedelta | None = None,
    node: Node | None = None,
) -> tuple[RegistrationToken, str]:
    """A single-use token for the install command; returns it with its plaintext (shown once).

    With `node` (a provider node being created), registration fills that node in.
    """
    plaintext, _ = tokens.make_token(TOKEN_KIND)
    ttl = ttl or timedelta(seconds=settings.DC_REGISTRATION_TOKEN_TTL)
    if node is not None:
        # A node booted again (its first host was lost): its earlier token is retired, so a
        # straggling host cannot register with it.
        RegistrationToken.objects.filter(node=node).update(node=None, expires_at=timezone.now())
    token = RegistrationToken.objects.create(
        organization=organization,
        digest=tokens.digest(plaintext),
        created_by=actor.user,
        expires_at=timezone.now() + ttl,
        node=node,
    )
    audit_record(actor=actor, action="node.token", organization=organization, obj=token)
    return token, plaintext


def _clean_facts(facts: dict) -> dict:
    def text(key, limit=255):
        value = facts.get(key)
        return str(value)[:limit] if value is not None else ""

    def number(key):
        try:
            return max(int(facts.get(key) or 0), 0)
        except (TypeError, ValueError):
            return 0

    addresses = facts.get("addresses") or []
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise RegistrationRefused("facts.addresses must be a list of IP addresses")
    try:
        addresses = [str(ipaddress.ip_address(a)) for a in addresses[:32]]
    except ValueError:
        raise RegistrationRefused("facts.addresses must be a list of IP addresses") from None
    return {
        "hostname": text("hostname"),
        "os": text("os"),
        "kernel": text("kernel"),
        "arch": text("arch", 32),
        "cpu": number("cpus"),
        "memory": number("memory_mb"),
        "disk": number("disk_gb"),
        "docker_version": text("docker_version", 64),
        "agent_version": text("agent_version", 64),
        "addresses": addresses,
    }


def _claim_token(plaintext: str) -> RegistrationToken:
    now = timezone.now()
    token = RegistrationToken.objects.filter(digest=tokens.digest(plaintext or "")).first()
    if token is None:
        raise RegistrationRefused("Unknown registration token. Create a new install command.", 401)
    claimed = RegistrationToken.objects.filter(
        pk=token.pk, used_at=None, expires_at__gt=now
    ).update(used_at=now)
    if not claimed:
        if token.used_at:
            raise RegistrationRefused(
                "This registration token was already used. Create a new install command.", 410
            )
        raise RegistrationRefused(
            "This registration token has expired. Create a new install command.", 410
        )
    return token


@transaction.atomic
def node_register(*, token: str, csr: str, facts: dict, remote_ip: str | None) -> dict:
    """Turn a token + host facts + CSR into a node; returns what the agent needs, once."""
    if not isinstance(facts, dict):
        raise RegistrationRefused("facts must be a JSON object")
    cleaned = _clean_facts(facts)
    claimed = _claim_token(token)
    org = claimed.organization
    authority = org_ca_ensure(organization=org)
    secret, _ = tokens.make_token(SECRET_KIND)
    addresses = cleaned.pop("addresses")
    # Dialled on 2375 and named in the certificate: only where the registration came from
    # (the facts' addresses are the node's word, shown but never trusted).
    public_ip = node_address(remote_ip)
    # A provider node exists before its host boots (the token was made for it); a BYO node
    # is born here.
    node = Node.objects.filter(pk=claimed.node_id, state=NodeState.DEPLOYING).first() or Node(
        organization=org
    )
    node.agent_secret_digest = tokens.digest(secret)
    node.public_ip = public_ip
    node.addresses = addresses
    node.heartbeat_interval = settings.DC_HEARTBEAT_INTERVAL
    for field, value in cleaned.items():
        setattr(node, field, value)
    node.nickname = node.nickname or node.hostname
    try:
        cert = ca.sign_server_csr(
            csr_pem=csr or "",
            ca_cert_pem=authority.ca_cert,
            ca_key_pem=crypto.decrypt(authority.ca_key_encrypted),
            addresses=[public_ip] if public_ip else [],
            fqdn=node.external_fqdn,
        )
    except ca.CSRError as exc:
        raise RegistrationRefused(f"Bad CSR: {exc}") from None
    node.cert_serial = format(cert.serial_number, "x")
    # The workers accept this certificate from the node's daemon and no other (a re-booted
    # node's earlier host, a terminated node, another node holding the address).
    node.cert_sha256 = ca.cert_sha256(cert)
    created = node.pk is None
    node.save()
    node_state_event(node_id=node.pk, action="create" if created else "update")
    RegistrationToken.objects.filter(pk=claimed.pk).update(node=node)
    audit_record(
        actor=Actor(user=None, ip=remote_ip),
        action="node.register",
        organization=org,
        obj=node,
        object_repr=node.hostname,
    )
    return {
        "node": node,
        "secret": secret,
        "cert": ca.cert_pem(cert),
        "ca_cert": authority.ca_cert,
    }


def node_authenticate_agent(*, node_uuid: str, secret: str) -> Node | None:
    node = Node.objects.select_related("organization").filter(uuid=node_uuid).first()
    if node is None or not node.agent_secret_digest:
        return None
    if node.state == NodeState.TERMINATED or not tokens.same_digest(
        secret, node.agent_secret_digest
    ):
        return None
    return node


def _alive_fields(node: Node, now) -> dict:
    grace = timedelta(seconds=node.heartbeat_interval * MISSED_HEARTBEATS)
    return {"last_seen": now, "unreachable_after": now + grace}


def _version(value) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def node_hello(*, node: Node, hello: dict) -> None:
    now = timezone.now()
    fields = _alive_fields(node, now)
    for key in ("docker_version", "agent_version"):
        if version := _version(hello.get(key)):
            fields[key] = version
    Node.objects.filter(pk=node.pk).exclude(state=NodeState.TERMINATED).update(**fields)


MAX_METRIC = 1e15  # MB or GB: more than any host has; a load average far past any machine's


def _number(value) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) and 0 <= value <= MAX_METRIC else None


def _metric(beat: dict) -> dict:
    """The heartbeat's load, memory and disk, in the agent's shape and nothing else: the node
    page and the API show it, and an agent may send anything."""

    def numbers(key: str, names: tuple[str, ...]) -> dict | None:
        given = beat.get(key)
        if not isinstance(given, dict):
            return None
        return {name: _number(given.get(name)) for name in names}

    load = beat.get("load")
    running = beat.get("dockerd_running")
    return {
        "load": [_number(x) for x in load[:3]] if isinstance(load, list) else None,
        "memory": numbers("memory", ("total_mb", "available_mb")),
        "disk": numbers("disk", ("total_gb", "free_gb")),
        "dockerd_running": running if isinstance(running, bool) else None,
    }


def node_heartbeat(*, node: Node, beat: dict) -> bool:
    """Record a heartbeat; return True when the node needs a connectivity check."""
    now = timezone.now()
    fields = _alive_fields(node, now)
    containers = beat.get("containers")
    total = containers.get("total") if isinstance(containers, dict) else None
    if isinstance(total, int) and not isinstance(total, bool):
        fields["current_num_containers"] = min(max(total, 0), MAX_CONTAINERS)
    if version := _version(beat.get("docker_version")):
        fields["docker_version"] = version
    clock = beat.get("time")
    if isinstance(clock, int | float) and not isinstance(clock, bool) and math.isfinite(clock):
        fields["clock_skew"] = float(clock) - now.timestamp()
    fields["last_metric"] = _metric(beat)
    Node.objects.filter(pk=node.pk).exclude(state=NodeState.TERMINATED).update(**fields)
    current = Node.objects.filter(pk=node.pk).values_list("state", flat=True).first()
    running = beat.get("dockerd_running", True) is True
    return running and current in (NodeState.DEPLOYING, NodeState.UNREACHABLE)


def probe_gate(node_uuid) -> str:
    """The cache key that holds a node's probes to one at a time, DC_PROBE_INTERVAL apart."""
    return f"node-probe:{node_uuid}"


def node_probe_request(*, node_id: int, node_uuid) -> bool:
    """Queue a check of how the node's daemon is reached, unless one is queued or running or
    ended less than DC_PROBE_INTERVAL seconds ago; True if queued.

    Agents ask for it (hello, heartbeats while Deploying), and any node may be a fake one
    sending nothing else: the gate is a cache key every process shares (Redis in production,
    this one process's memory in the embedded default), so the queue holds at most one probe
    per node whatever its agent sends. It lives until the probe ends (`probe_node`), or at
    most PROBE_QUEUED_TTL should no worker ever take it.
    """
    from .tasks import probe_node

    if not cache.add(probe_gate(node_uuid), "queued", timeout=PROBE_QUEUED_TTL):
        return False
    transaction.on_commit(lambda: probe_node.delay(node_id))
    return True


def node_set_reached(*, node_id: int, connection: str) -> bool:
    """The daemon answered over mutual TLS: Deploying/Unreachable -> Deployed. True if changed."""
    now = timezone.now()
    changed = Node.objects.filter(
        pk=node_id, state__in=[NodeState.DEPLOYING, NodeState.UNREACHABLE]
    ).update(state=NodeState.DEPLOYED, connection=connection, last_seen=now)
    Node.objects.filter(pk=node_id, deployed_datetime=None).exclude(
        state=NodeState.DEPLOYING
    ).update(deployed_datetime=now)
    Node.objects.filter(pk=node_id).exclude(connection=connection).update(connection=connection)
    if changed:
        node_state_event(node_id=node_id)
    return bool(changed)


def node_set_unreachable(*, node_id: int) -> bool:
    changed = Node.objects.filter(
        pk=node_id, state__in=[NodeState.DEPLOYED, NodeState.UPGRADING]
    ).update(state=NodeState.UNREACHABLE)
    if changed:
        node_state_event(node_id=node_id)
    return bool(changed)


def node_upgrade_done(*, node_id: int, docker_version: str | None) -> None:
    """Upgrading -> Deployed, with the version the daemon reports (kept if unknown)."""
    fields = {"state": NodeState.DEPLOYED}
    if docker_version:
        fields["docker_version"] = docker_version[:64]
    if Node.objects.filter(pk=node_id, state=NodeState.UPGRADING).update(**fields):
        node_state_event(node_id=node_id)


def node_agent_upgraded(*, node_id: int, agent_version: str) -> None:
    Node.objects.filter(pk=node_id).exclude(state=NodeState.TERMINATED).update(
        agent_version=agent_version[:64]
    )
    node_state_event(node_id=node_id)


def nodes_sweep_unreachable() -> list[int]:
    """Flip Deployed nodes whose heartbeats stopped to Unreachable; return the ids flipped."""
    now = timezone.now()
    flipped = []
    overdue = Node.objects.filter(
        state__in=[NodeState.DEPLOYED, NodeState.UPGRADING], unreachable_after__lt=now
    ).values_list("pk", "state")
    for pk, state in overdue:
        # Conditional update: another sweeper or a late heartbeat may have acted meanwhile.
        if Node.objects.filter(pk=pk, state=state, unreachable_after__lt=now).update(
            state=NodeState.UNREACHABLE
        ):
            flipped.append(pk)
            node_state_event(node_id=pk)
    return flipped


@transaction.atomic
def node_forget_agent(*, actor: Actor, node: Node) -> None:
    """Revoke the node's agent secret and its certificate's pin, and mark it terminated."""
    now = timezone.now()
    Node.objects.filter(pk=node.pk).update(
        state=NodeState.TERMINATED,
        agent_secret_digest="",
        cert_sha256="",
        destroyed_datetime=now,
        connection=Connection.UNKNOWN,
    )
    node_state_event(node_id=node.pk, action="delete")
    audit_record(actor=actor, action="node.terminate", organization=node.organization, obj=node)
    # Its socket was authenticated before: close it, in whichever web process holds it.
    transaction.on_commit(functools.partial(agent_disconnect, node.uuid, "deregistered"))
