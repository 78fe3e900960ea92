"""Nodes (Docker hosts), registration tokens, and each organization's certificate authority."""

import uuid
from uuid import UUID

from django.db import models
from django.utils import timezone

from accounts.models import Organization, User


class OrgCA(models.Model):
    """An organization's CA: signs its nodes' daemon certificates and the platform's client one.

    Private keys are encrypted at rest (core.crypto). A daemon trusts only this CA, so a client
    certificate from another organization's CA is refused by the daemon itself.
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="ca")
    ca_cert = models.TextField()
    ca_key_encrypted = models.TextField()
    client_cert = models.TextField()
    client_key_encrypted = models.TextField()
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"CA of {self.organization}"


class NodeState(models.TextChoices):
    DEPLOYING = "Deploying"
    DEPLOYED = "Deployed"
    UNREACHABLE = "Unreachable"
    UPGRADING = "Upgrading"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class Connection(models.TextChoices):
    UNKNOWN = ""
    DIRECT = "direct"
    TUNNEL = "tunnel"


class ClusterState(models.TextChoices):
    INIT = "Init"
    DEPLOYING = "Deploying"
    DEPLOYED = "Deployed"
    PARTLY_DEPLOYED = "Partly deployed"
    SCALING = "Scaling"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"
    EMPTY = "Empty cluster"


class NodeCluster(models.Model):
    """A set of nodes of one provider, region and node type, kept at `target_num_nodes`.

    Init (created) -> Deploying -> Deployed | Partly deployed; a target change -> Scaling ->
    Deployed; DELETE -> Terminating -> Terminated. The reconciler drives nodes to the target.
    """

    # providers.selectors.credential_in_use: a terminated cluster no longer holds its credential.
    credential_released = models.Q(state="Terminated")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="node_clusters"
    )
    name = models.CharField(max_length=100)
    nickname = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=16, choices=ClusterState.choices, default=ClusterState.INIT)
    provider = models.CharField(max_length=32)
    region = models.CharField(max_length=64)
    node_type = models.CharField(max_length=64)
    disk = models.PositiveIntegerField(default=60)
    target_num_nodes = models.PositiveIntegerField(default=1)
    tags = models.JSONField(default=list, blank=True)
    provider_options = models.JSONField(default=dict, blank=True)
    # The credential it deploys with (none for the local lab). Deleting a credential is refused
    # while a live cluster uses it (providers.selectors.credential_in_use); a terminated
    # cluster lets it go.
    credential = models.ForeignKey(
        "providers.Credential",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="node_clusters",
    )
    install_url = models.CharField(
        max_length=255, blank=True, help_text="The control plane's address as its nodes reach it."
    )
    created = models.DateTimeField(default=timezone.now)
    deployed_datetime = models.DateTimeField(null=True, blank=True)
    destroyed_datetime = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    @property
    def credential_uuid(self) -> UUID | None:
        """The uuid of its credential (what the API shows and grants name), None for none."""
        credential = self.credential  # no query when the column is null
        return credential.uuid if credential is not None else None

    @property
    def grant_credential_uuid(self) -> UUID | None:
        """The credential a grant must cover to admit a verb on this cluster."""
        return self.credential_uuid


class Node(models.Model):
    """A Docker host managed through its agent.

    States (Docker Cloud's): Deploying -> Deployed <-> Unreachable; Deployed -> Upgrading ->
    Deployed; any -> Terminating -> Terminated. A node is Deployed only once the control plane
    has reached its daemon over mutual TLS, directly or through the agent's tunnel.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="nodes")
    state = models.CharField(max_length=12, choices=NodeState.choices, default=NodeState.DEPLOYING)
    hostname = models.CharField(max_length=255, blank=True)
    nickname = models.CharField(max_length=255, blank=True)
    public_ip = models.GenericIPAddressField(null=True, blank=True)
    addresses = models.JSONField(default=list, blank=True)
    os = models.CharField(max_length=255, blank=True)
    kernel = models.CharField(max_length=255, blank=True)
    arch = models.CharField(max_length=32, blank=True)
    cpu = models.PositiveIntegerField(default=0)
    memory = models.PositiveIntegerField(default=0, help_text="MB")
    disk = models.PositiveIntegerField(default=0, help_text="GB")
    docker_version = models.CharField(max_length=64, blank=True)
    agent_version = models.CharField(max_length=64, blank=True)
    connection = models.CharField(
        max_length=6, choices=Connection.choices, default=Connection.UNKNOWN, blank=True
    )
    agent_secret_digest = models.CharField(max_length=64, blank=True)
    cert_serial = models.CharField(max_length=64, blank=True)
    cert_sha256 = models.CharField(
        max_length=64, blank=True, help_text="The daemon certificate's pin (empty: none trusted)."
    )
    last_metric = models.JSONField(default=dict, blank=True)
    current_num_containers = models.PositiveIntegerField(default=0)
    heartbeat_interval = models.PositiveIntegerField(default=15)
    last_seen = models.DateTimeField(null=True, blank=True)
    unreachable_after = models.DateTimeField(null=True, blank=True, db_index=True)
    # Why the node is Unreachable (missed heartbeats, a daemon that did not answer); empty
    # otherwise. Shown in the API, the portal and the node's update event.
    unreachable_reason = models.CharField(max_length=300, blank=True, default="")
    clock_skew = models.FloatField(null=True, blank=True, help_text="seconds, node minus server")
    tags = models.JSONField(default=list, blank=True)
    node_cluster = models.ForeignKey(
        NodeCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="nodes"
    )
    provider = models.CharField(max_length=32, default="byo")
    region = models.CharField(max_length=64, default="byo")
    node_type = models.CharField(max_length=64, default="byo")
    provider_host_id = models.CharField(max_length=128, blank=True)
    deploy_deadline = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    deployed_datetime = models.DateTimeField(null=True, blank=True)
    destroyed_datetime = models.DateTimeField(null=True, blank=True)
    # Not a column: the organization's TLS files (ca, cert, key), set by
    # `docker_client.prepare` while a database connection is at hand, for a client built later
    # in a thread that holds none.
    _tls_paths: tuple[str, str, str] | None = None

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # The fleet's pages: one organization's nodes, newest first, read by index order
            # (a page of 25 among 100,000 nodes never sorts them all).
            models.Index(
                "organization", models.F("created").desc(), models.F("id").desc(),
                name="node_org_newest",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.nickname or self.hostname or str(self.uuid)

    @property
    def grant_credential_uuid(self) -> UUID | None:
        """The credential a grant must cover to admit a verb on this node: its cluster's
        (a BYO node has none, so no grant reaches it)."""
        cluster = self.node_cluster  # no query when the column is null
        return cluster.credential_uuid if cluster is not None else None

    @property
    def external_fqdn(self) -> str:
        return f"{self.uuid}.node.dockercloud"


class RegistrationToken(models.Model):
    """A single-use, expiring token in the install command; stored as a digest only."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="registration_tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    node = models.OneToOneField(
        Node, null=True, blank=True, on_delete=models.SET_NULL, related_name="registration_token"
    )

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"registration token {self.uuid}"


class ActionState(models.TextChoices):
    PENDING = "Pending"
    IN_PROGRESS = "In progress"
    CANCELING = "Canceling"
    CANCELED = "Canceled"
    SUCCESS = "Success"
    FAILED = "Failed"


FINAL_ACTION_STATES = (ActionState.SUCCESS, ActionState.FAILED, ActionState.CANCELED)


class Action(models.Model):
    """A durable record of a long operation the user can follow (Docker Cloud's Action).

    Transitions (nodes.transitions.actions): Pending -> In progress -> Success | Failed;
    Pending -> Canceled; In progress -> Canceling -> Canceled. Log lines are appended as the work
    goes; `end_date` is set on a final state. `deadline` is set on starting, from the verb's own
    time bound: past it, the reaper fails an action no worker finished.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=100, help_text='e.g. "Node Deploy"')
    object_uri = models.CharField(max_length=255, blank=True)
    object_uuid = models.UUIDField(null=True, blank=True, db_index=True)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user_name = models.CharField(max_length=150, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    state = models.CharField(
        max_length=12, choices=ActionState.choices, default=ActionState.PENDING, db_index=True
    )
    is_user_action = models.BooleanField(default=True)
    can_be_canceled = models.BooleanField(default=False)
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.action} ({self.state})"

    @property
    def can_be_retried(self) -> bool:
        return self.state in FINAL_ACTION_STATES


class DockerEvent(models.Model):
    """An event of a node's Docker daemon (sent by its agent) or of the platform (a node's,
    node cluster's or action's state change), as kept for the event search and page catch-up.

    Agent events carry the node's sequence number `seq`: the agent replays what was not
    acknowledged after a reconnect, and (node, seq) being unique makes storing idempotent.
    Platform events have no `seq`; their `attributes` hold `state`, `resource_uri` and
    `parents` (Docker Cloud's stream fields). `time` is when it happened (the node's clock for
    daemon events); `received` is when the control plane stored it (retention uses it).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(
        Node, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    seq = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=32, help_text="container, image, network, node, gap, ...")
    action = models.CharField(max_length=100, help_text="start, die, update, ...")
    actor_id = models.CharField(max_length=128, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    time = models.DateTimeField()
    received = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["node", "seq"], name="dockerevent_node_seq")]
        indexes = [models.Index(fields=["organization", "time"], name="dockerevent_org_time")]

    def __str__(self) -> str:
        return f"{self.type} {self.action} {self.actor_id[:12]}".strip()
