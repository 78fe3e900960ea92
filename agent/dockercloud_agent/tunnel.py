"""Reverse tunnel: relay byte streams between the control plane and the local docker socket.

The control plane's docker SDK speaks plain HTTP to a unix socket on its side; every
connection it opens there becomes one stream here, relayed byte for byte to a fresh
connection on /run/docker.sock. Relaying bytes (not requests) keeps everything the SDK does
working, including streaming logs and events and the raw socket it reads multiplexed output
from.

Messages (data is base64 text):
  server -> agent: tunnel_open {id}, tunnel_data {id, data}, tunnel_close {id}
  agent -> server: tunnel_opened {id}, tunnel_data {id, data}, tunnel_close {id, error?}
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import threading
from typing import Any, Callable, Dict, Optional

log = logging.getLogger("dockercloud.tunnel")

MAX_STREAMS = 256
PIECE = 32 * 1024


class _Stream:
    def __init__(self, sid: str, sock: socket.socket) -> None:
        self.id = sid
        self.sock = sock
        self.closed = False

    def shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class TunnelManager:
    """One thread per open stream reads the daemon's side; writes happen on message arrival."""

    def __init__(self, sock_path: str, send: Callable[[Dict[str, Any]], bool]) -> None:
        self.sock_path = sock_path
        self.send = send
        self._streams: Dict[str, _Stream] = {}
        self._lock = threading.Lock()

    @property
    def active_count(self) -> int:
        with self._lock:
            return len(self._streams)

    def handle(self, message: Dict[str, Any]) -> None:
        """Dispatch one tunnel_* message; malformed ones are answered or logged, never raised."""
        sid = message.get("id")
        if not isinstance(sid, str) or not sid:
            log.warning("%s without an id: ignored", message.get("type"))
            return
        kind = message.get("type")
        if kind == "tunnel_open":
            self._open(sid)
        elif kind == "tunnel_data":
            self._data(sid, message.get("data"))
        elif kind == "tunnel_close":
            self._finish(sid, None, notify=False)

    def _open(self, sid: str) -> None:
        with self._lock:
            busy = len(self._streams) >= MAX_STREAMS or sid in self._streams
        if busy:
            self.send({"type": "tunnel_close", "id": sid, "error": "too many tunnel streams"})
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.sock_path)
        except OSError as exc:
            sock.close()
            self.send({"type": "tunnel_close", "id": sid, "error": "docker socket: %s" % exc})
            return
        stream = _Stream(sid, sock)
        with self._lock:
            self._streams[sid] = stream
        self.send({"type": "tunnel_opened", "id": sid})
        pump = threading.Thread(target=self._pump, args=(stream,), name="tunnel-" + sid)
        pump.daemon = True
        pump.start()

    def _data(self, sid: str, data: Any) -> None:
        with self._lock:
            stream = self._streams.get(sid)
        if stream is None:
            return  # closed meanwhile: the server learns it from our tunnel_close
        try:
            stream.sock.sendall(base64.b64decode(data, validate=True))
        except (TypeError, ValueError, binascii.Error):
            self._finish(sid, "tunnel_data is not base64", notify=True)
        except OSError as exc:
            self._finish(sid, "docker socket: %s" % exc, notify=True)

    def _pump(self, stream: _Stream) -> None:
        error: Optional[str] = None
        try:
            while True:
                data = stream.sock.recv(PIECE)
                if not data:
                    break
                payload = base64.b64encode(data).decode("ascii")
                if not self.send({"type": "tunnel_data", "id": stream.id, "data": payload}):
                    error = "control channel down"
                    break
        except OSError as exc:
            if not stream.closed:
                error = "docker socket: %s" % exc
        self._finish(stream.id, error, notify=True)

    def _finish(self, sid: str, error: Optional[str], notify: bool) -> None:
        with self._lock:
            stream = self._streams.pop(sid, None)
        if stream is None:
            return
        stream.closed = True
        stream.shutdown()
        stream.sock.close()
        if notify:
            message: Dict[str, Any] = {"type": "tunnel_close", "id": sid}
            if error:
                message["error"] = error
            self.send(message)

    def cancel_all(self) -> None:
        with self._lock:
            sids = list(self._streams)
        for sid in sids:
            self._finish(sid, "cancelled", notify=False)
