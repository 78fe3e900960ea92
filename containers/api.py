"""Containers in the Docker Cloud v1 shape: `/api/app/v1/[<ns>/]container/`, with start, stop,
redeploy, terminate (DELETE) and logs; our extension: POST creates one. Plus the empty stack
list that `docker-cloud container ps` reads."""

import uuid as uuid_module

from django.core.exceptions import ValidationError
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import StrictFieldsMixin
from core.dockercloud import rfc1123
from core.schema import ERROR
from nodes.api.base import InfraViewSet, with_action
from nodes.api.nodes import node_uri
from nodes.models import Node

from . import selectors, services
from .logs import MAX_TAIL, container_logs, public
from .models import Container, ContainerState
from .runtime import RuntimeFailure
from .transitions import container_uri


def container_body(container: Container) -> dict:
    node = container.node
    return {
        "uuid": str(container.uuid),
        "resource_uri": container_uri(container),
        "name": container.name,
        "state": container.state,
        "image_name": container.image,
        "image_tag": None,
        "run_command": container.run_command,
        "entrypoint": "",
        "exit_code": container.exit_code,
        "exit_code_msg": container.error or None,
        "deployed_datetime": rfc1123(container.deployed_datetime),
        "started_datetime": rfc1123(container.started_datetime),
        "stopped_datetime": rfc1123(container.stopped_datetime),
        "destroyed_datetime": rfc1123(container.destroyed_datetime),
        "container_ports": [],
        "container_envvars": [],
        "labels": {},
        "bindings": [],
        "linked_to_container": [],
        "link_variables": {},
        "roles": [],
        "autorestart": "OFF",
        "autodestroy": "OFF",
        "privileged": False,
        "net": "overlay",
        "public_dns": node.external_fqdn if node else None,
        "node": node_uri(node),
        "service": None,
        "private_ip": container.private_ip,
        "docker_id": container.docker_id or None,
        "synchronized": True,
    }


def node_from_input(organization, value) -> Node | None:
    """The node a request names (a node URI or uuid), within the organization; a 400 if it
    names none of its nodes (another organization's included: it is not told apart)."""
    if not value:
        return None
    tail = str(value).rstrip("/").rsplit("/", 1)[-1]
    try:
        found = selectors.node_for_containers(
            organization=organization, uuid=uuid_module.UUID(tail)
        )
    except ValueError:
        found = None
    if found is None:
        raise ValidationError({"node": ["No such node in this organization."]})
    return found


class ContainerSerializer(StrictFieldsMixin, serializers.Serializer):
    """Run a container (not in Docker Cloud's API, where services made them)."""

    image = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=64)
    run_command = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    node = serializers.CharField(
        max_length=255, required=False, help_text="A node URI or uuid; else one is chosen."
    )
    tag = serializers.CharField(
        max_length=100, required=False, help_text="Choose among the nodes with this tag."
    )


class ContainerBodySerializer(serializers.Serializer):
    """Docker Cloud's container object, as answered (documentation of `container_body`)."""

    uuid = serializers.UUIDField()
    resource_uri = serializers.CharField()
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=ContainerState.choices)
    image_name = serializers.CharField()
    run_command = serializers.CharField()
    exit_code = serializers.IntegerField(allow_null=True)
    exit_code_msg = serializers.CharField(allow_null=True)
    deployed_datetime = serializers.CharField(allow_null=True, help_text="RFC 1123")
    started_datetime = serializers.CharField(allow_null=True)
    stopped_datetime = serializers.CharField(allow_null=True)
    destroyed_datetime = serializers.CharField(allow_null=True)
    container_ports = serializers.ListField(child=serializers.DictField())
    node = serializers.CharField(help_text="The node's URI")
    service = serializers.CharField(allow_null=True)
    private_ip = serializers.IPAddressField(allow_null=True, help_text="Its overlay address")
    docker_id = serializers.CharField(allow_null=True)


ACCEPTED = {202: ContainerBodySerializer}


class RedeploySerializer(StrictFieldsMixin, serializers.Serializer):
    node = serializers.CharField(
        max_length=255, required=False, help_text="Move it to this node (URI or uuid)."
    )
    reuse_volumes = serializers.BooleanField(required=False, help_text="Accepted, unused.")


class LogLineSerializer(serializers.Serializer):
    log = serializers.CharField()
    timestamp = serializers.IntegerField(allow_null=True)
    streamType = serializers.ChoiceField(choices=["stdout", "stderr"])  # Docker Cloud's spelling


class LogsSerializer(serializers.Serializer):
    logs = LogLineSerializer(many=True)


class VerbSerializer(serializers.Serializer):
    """Verbs take no body."""


FILTERS = {"uuid": "uuid", "uuid__startswith": "uuid__startswith", "state": "state", "name": "name"}
# Filters on objects that do not exist here (services, stacks): nothing matches them.
NOTHING = ("service", "service__stack__name", "stack__name")


class ContainerViewSet(InfraViewSet):
    serializer_class = ContainerSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    verb_map = {
        "create": "deploy",
        "start": "change",
        "stop": "change",
        "redeploy": "deploy",
        "destroy": "terminate",
        "logs": "view",
    }

    def _container(self, uuid) -> Container:
        container = selectors.container_get(organization=self.organization, uuid=uuid)
        self.check_object_permissions(self.request, container)
        return container

    def _verb(self, name: str, verb, container: Container, **kwargs):
        act = self.run_verb(
            name,
            verb,
            object_uri=container_uri(container),
            object_uuid=container.uuid,
            container=container,
            **kwargs,
        )
        container.refresh_from_db()
        return with_action(container_body(container), act)

    @extend_schema(responses=ContainerBodySerializer(many=True))
    def list(self, request, ns=None):
        params = request.query_params
        rows = selectors.containers_list(organization=self.organization)
        rows = rows.filter(**{f: params[p] for p, f in FILTERS.items() if params.get(p)})
        if params.get("node"):
            tail = params["node"].rstrip("/").rsplit("/", 1)[-1]
            rows = rows.filter(node__uuid=tail) if _is_uuid(tail) else rows.none()
        if any(params.get(p) for p in NOTHING):
            rows = rows.none()
        page = self.paginate_queryset(rows) or []  # never None: every list is paginated
        return self.get_paginated_response([container_body(c) for c in page])

    @extend_schema(responses=ContainerBodySerializer)
    def retrieve(self, request, ns=None, uuid=None):
        return Response(container_body(self._container(uuid)))

    @extend_schema(responses=ACCEPTED)
    def create(self, request, ns=None):
        body = ContainerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():  # a refused run leaves no action behind
            act = self.start_action("Container Run", object_uri="")
            container = services.container_run(
                actor=self.actor,
                organization=self.organization,
                action=act,
                name=data["name"],
                image=data["image"],
                run_command=data.get("run_command", ""),
                node=node_from_input(self.organization, data.get("node")),
                tag=data.get("tag", ""),
            )
        return with_action(container_body(container), act, code=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={**ACCEPTED, 400: ERROR})  # terminated already
    def destroy(self, request, ns=None, uuid=None):
        container = self._container(uuid)
        return self._verb("Container Terminate", services.container_terminate, container)

    @extend_schema(request=VerbSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def start(self, request, ns=None, uuid=None):
        container = self._container(uuid)
        return self._verb("Container Start", services.container_start, container)

    @extend_schema(request=VerbSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def stop(self, request, ns=None, uuid=None):
        container = self._container(uuid)
        return self._verb("Container Stop", services.container_stop, container)

    @extend_schema(
        request=RedeploySerializer,
        responses=ACCEPTED,
        parameters=[OpenApiParameter("reuse_volumes", str, description="Accepted, unused.")],
    )
    @action(detail=True, methods=["post"])
    def redeploy(self, request, ns=None, uuid=None):
        container = self._container(uuid)
        body = RedeploySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        node = node_from_input(self.organization, body.validated_data.get("node"))
        return self._verb("Container Redeploy", services.container_redeploy, container, node=node)

    @extend_schema(
        parameters=[OpenApiParameter("tail", int, description=f"Lines, 1 to {MAX_TAIL}.")],
        responses={200: LogsSerializer, 503: ERROR},
    )
    @action(detail=True, methods=["get"])
    def logs(self, request, ns=None, uuid=None):
        """The container's last lines of output, as its node's daemon keeps them."""
        container = self._container(uuid)
        tail = request.query_params.get("tail", "300")
        if not tail.isdigit() or not 1 <= int(tail) <= MAX_TAIL:
            raise ValidationError({"tail": [f"Give a number of lines from 1 to {MAX_TAIL}."]})
        try:
            lines = public(container_logs(container, tail=int(tail)))
        except RuntimeFailure as exc:
            return Response({"error": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"logs": lines})


def _is_uuid(value: str) -> bool:
    try:
        uuid_module.UUID(value)
    except ValueError:
        return False
    return True


class StackSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()


class StackStubViewSet(InfraViewSet):
    """The app subsystem's stack list, empty: `docker-cloud container ps` reads it."""

    serializer_class = StackSerializer

    def list(self, request, ns=None):
        # As the service stub (nodes.api.stubs): DRF pages any sequence; its stubs want a queryset.
        return self.get_paginated_response(self.paginate_queryset([]))  # type: ignore[arg-type]
