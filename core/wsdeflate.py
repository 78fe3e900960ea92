"""Websockets served with permessage-deflate at zlib's fastest level.

Browsers ask for compression and each socket compresses its own copy of every frame, so a
page's live events cost one compression per watching socket. At zlib's default level (6)
that was the largest single cost of fanning events out (about 5 us per event per socket);
level 1 takes under half of that for nearly the same ratio on event JSON (4.2 against 4.5).
Agents and the Docker Cloud clients do not ask for compression and are not affected.
uvicorn (pinned in requirements.txt) offers no setting for it, hence the subclass.
"""

from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

LEVEL = 1


class FastDeflateWebSocketProtocol(WebSocketProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            self.available_extensions = [
                ServerPerMessageDeflateFactory(compress_settings={"level": LEVEL})
            ]
