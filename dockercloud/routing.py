"""Websocket routes: browsers and agents have separate consumers and authentication."""

websocket_urlpatterns: list = []
