"""Websocket routes: browsers and agents have separate consumers and authentication."""

from django.urls import path

from agentapi.consumers import AgentConsumer

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
]
