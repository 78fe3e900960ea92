"""Websocket routes: browsers, API clients and agents have separate consumers and authentication.

Docker Cloud clients open their streams without a trailing slash (the docs show one): both
forms route. The namespace segment is optional, as on the REST API.
"""

from channels.auth import AuthMiddlewareStack
from django.urls import path, re_path

from agentapi.consumers import AgentConsumer
from containers.consumers import ContainerLogConsumer
from nodes.consumers import ActionLogConsumer, DockerCloudEventsConsumer, EventsConsumer

NS = r"(?:(?P<ns>[^/]+)/)?"
UUID = r"(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/events/", AuthMiddlewareStack(EventsConsumer.as_asgi())),
    re_path(rf"^api/audit/v1/{NS}events/?$", DockerCloudEventsConsumer.as_asgi()),
    re_path(rf"^api/audit/v1/{NS}action/{UUID}/logs/?$", ActionLogConsumer.as_asgi()),
    re_path(rf"^api/app/v1/{NS}container/{UUID}/logs/?$", ContainerLogConsumer.as_asgi()),
]
