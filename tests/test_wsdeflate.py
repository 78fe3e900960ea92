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
    loop = asyncio.new_event_loop()  # its own: another test may have left none current
    try:
        return FastDeflateWebSocketProtocol(config, ServerState(), {}, _loop=loop)
    finally:
        loop.close()


def test_compression_is_offered_at_the_fastest_level():
    (deflate,) = _protocol().available_extensions
    assert deflate.compress_settings == {"level": LEVEL} and LEVEL == 1


def test_compression_switched_off_stays_off():
    assert _protocol(ws_per_message_deflate=False).available_extensions == []
