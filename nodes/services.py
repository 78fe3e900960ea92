"""Writes on nodes: CA, registration tokens, registration, probes.

States, liveness and termination are in `nodes.transitions`.
"""

import ipaddress
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
from .models import Node, NodeState, OrgCA, RegistrationToken
from .transitions.nodes import node_registration_save

PROBE_QUEUED_TTL = 120  # seconds
TOKEN_KIND = "dcr"  # noqa: S105 (a token type prefix, not a secret)
SECRET_KIND = "dca"  # noqa: S105 (a token type prefix, not a secret)


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
    # is born here (its uuid, named in the certificate, is chosen before its row exists).
    node = None
    if claimed.node_id is not None:
        node = Node.objects.filter(pk=claimed.node_id, state=NodeState.DEPLOYING).first()
    if node is None:
        node = Node(organization=org)
    fields = cleaned | {
        "agent_secret_digest": tokens.digest(secret),
        "public_ip": public_ip,
        "addresses": addresses,
        "heartbeat_interval": settings.DC_HEARTBEAT_INTERVAL,
        "nickname": node.nickname or cleaned["hostname"],
    }
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
    fields["cert_serial"] = format(cert.serial_number, "x")
    # The workers accept this certificate from the node's daemon and no other (a re-booted
    # node's earlier host, a terminated node, another node holding the address).
    fields["cert_sha256"] = ca.cert_sha256(cert)
    saved = node_registration_save(organization=org, node=node, fields=fields, remote_ip=remote_ip)
    if saved is None:
        raise RegistrationRefused("This node is no longer being deployed.", 410)
    RegistrationToken.objects.filter(pk=claimed.pk).update(node=saved)
    return {
        "node": saved,
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
