"""ASGI entry point: HTTP through Django, websockets through Channels' router."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockercloud.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 (needs Django set up)

from core.loops import remember_server_loop  # noqa: E402
from dockercloud.routing import websocket_urlpatterns  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)


async def application(scope, receive, send):
    # Sync views (run in threads) reach the channel layer on the loop core.loops names. Until
    # a websocket had connected, that was a private loop: a view using the layer then (the
    # portal asking a tunnelled node's daemon) left one layer used from two loops, which
    # channels_redis refuses, and the agents' sockets on that process failed from then on.
    remember_server_loop()
    await router(scope, receive, send)
