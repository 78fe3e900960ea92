"""The web process offers browsers compression at zlib's fastest level, and only on request."""

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from core.wsdeflate import LEVEL, FastDeflateWebSocketProtocol

# uvicorn's own protocol warns of websockets' legacy API as it is built, here as in production.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _protocol(**options) -> FastDeflateWebSocketProtocol:
    config = Config("dockercloud.asgi:application", **options)
    config.loaded_app = object()  # the protocol is not run here: no application needed
    config.loaded = True

    async def build():  # inside a running loop: the protocols look for the current one
        return FastDeflateWebSocketProtocol(
            config, ServerState(), {}, _loop=asyncio.get_running_loop()
        )

    return asyncio.run(build())


def test_compression_is_offered_at_the_fastest_level():
    (deflate,) = _protocol().available_extensions
    assert deflate.compress_settings == {"level": LEVEL} and LEVEL == 1


def test_compression_switched_off_stays_off():
    assert _protocol(ws_per_message_deflate=False).available_extensions == []
