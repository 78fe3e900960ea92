"""Containers an organization runs on its nodes, attached to its overlay network."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from nodes.models import Node


class ContainerState(models.TextChoices):
    """Docker Cloud's container states."""

    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class Container(models.Model):
    """One container of an organization: its image and command, the node it runs on now and
    the overlay address it keeps across redeployments until it is terminated.

    States move only through `containers.transitions` (one conditional update each):
    Starting -> Running | Stopped (the run failed: `error` says why);
    Running -> Stopping -> Stopped (or Running again if the stop failed);
    Stopped | Running -> Starting (start, redeploy);
    any but Terminated -> Terminating -> Terminated (terminated, or its node ended).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="containers"
    )
    name = models.CharField(max_length=64)
    image = models.CharField(max_length=255)
    run_command = models.CharField(max_length=1000, blank=True)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="containers")
    private_ip = models.GenericIPAddressField(null=True, blank=True)
    state = models.CharField(
        max_length=12, choices=ContainerState.choices, default=ContainerState.STARTING
    )
    docker_id = models.CharField(max_length=64, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    deployed_datetime = models.DateTimeField(null=True, blank=True)
    started_datetime = models.DateTimeField(null=True, blank=True)
    stopped_datetime = models.DateTimeField(null=True, blank=True)
    destroyed_datetime = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=~Q(state="Terminated"),
                name="container_name_once_per_org",
            )
        ]

    def __str__(self) -> str:
        return self.name
