"""The web process's channel layer runs on the server's event loop from its first request on,
so sync views and websocket consumers never use one layer from two loops (channels_redis
refuses that, and an agent's socket on that process failed from then on)."""

import asyncio

from asgiref.testing import ApplicationCommunicator

from core import loops
from dockercloud.asgi import application


def test_the_first_request_makes_the_servers_loop_the_layers(monkeypatch):
    monkeypatch.setattr(loops, "_server_loop", None)  # a web process that has served nothing
    seen = {}

    async def first_request():
        scope = {"type": "http", "method": "GET", "path": "/no-such-page/", "headers": []}
        scope |= {"query_string": b"", "http_version": "1.1", "scheme": "http"}
        request = ApplicationCommunicator(application, scope)
        await request.send_input({"type": "http.request", "body": b""})
        seen["status"] = (await request.receive_output(10))["status"]
        await request.wait(10)
        seen["server"] = asyncio.get_running_loop()
        seen["layer"] = loops.layer_loop()

    asyncio.run(first_request())
    assert seen["status"] == 404
    assert seen["layer"] is seen["server"]
