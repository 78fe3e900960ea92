"""The websocket control channel: connect, reconnect with backoff, serialized sends."""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import websocket

from . import __version__

log = logging.getLogger("dockercloud.channel")

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
# A connection that lived this long was healthy: its loss is a blip (a restarted server, a
# dropped route), so the first retry is at once and the backoff starts over.
HEALTHY_AFTER = 10.0
# "At once" spread over this many seconds, so that every agent of a restarted server does not
# come back in the same instant.
FIRST_RETRY_SPREAD = 0.5
# For this long after a healthy connection was lost (a server restarting, most likely) retries
# stay at most RECOVERY_MAX apart: the agent is back within that of the server, not after a
# backoff that doubled past the restart's length.
RECOVERY_WINDOW = 120.0
RECOVERY_MAX = 5.0


class Backoff:
    """The wait before each reconnection: at once after a healthy connection, then 1, 2, 4 ...
    seconds (plus up to a quarter of jitter), at most RECOVERY_MAX apart for RECOVERY_WINDOW
    seconds after a healthy connection was lost, then up to BACKOFF_MAX."""

    def __init__(self) -> None:
        self.delay = BACKOFF_START
        self.recovering_until = 0.0

    def after(self, lived: float, now: Optional[float] = None) -> float:
        """The wait after a connection that lasted ``lived`` seconds (0: it never opened)."""
        now = time.monotonic() if now is None else now
        if lived >= HEALTHY_AFTER:
            self.delay = BACKOFF_START
            self.recovering_until = now + RECOVERY_WINDOW
            return random.uniform(0, FIRST_RETRY_SPREAD)
        cap = RECOVERY_MAX if now < self.recovering_until else BACKOFF_MAX
        self.delay = min(self.delay, cap)
        wait = self.delay + random.uniform(0, self.delay * 0.25)
        self.delay = min(self.delay * 2, cap)
        return wait


class Channel:
    """One websocket to the control plane at a time, reconnected until ``stop()``.

    ``on_open()`` runs in the channel thread right after a connection is made (send hello
    there); ``on_message(dict)`` runs in the channel thread for every JSON object received and
    must not block; ``on_close()`` runs after a connection is lost.
    """

    def __init__(
        self,
        url: Callable[[], str],
        headers: Callable[[], List[str]],
        on_open: Callable[[], None],
        on_message: Callable[[Dict[str, Any]], None],
        on_close: Callable[[], None],
        read_timeout: Callable[[], float],
    ) -> None:
        self._url = url
        self._headers = headers
        self._on_open = on_open
        self._on_message = on_message
        self._on_close = on_close
        self._read_timeout = read_timeout
        self._ws: Optional[websocket.WebSocket] = None
        self._send_lock = threading.Lock()
        self.stopped = threading.Event()
        self.connected = threading.Event()
        self.connections = 0
        self.last_error = ""
        self._opened = None  # type: Optional[float]

    # --- sending -------------------------------------------------------------------------
    def send(self, message: Dict[str, Any]) -> bool:
        """Send one JSON message; False if there is no connection or the send failed."""
        text = json.dumps(message, separators=(",", ":"))
        with self._send_lock:
            ws = self._ws
            if ws is None or not ws.connected:
                return False
            try:
                ws.send(text)
                return True
            except (websocket.WebSocketException, OSError) as exc:
                log.warning("send failed (%s): dropping the connection", exc)
                self._abort(ws)
                return False

    def ping(self) -> None:
        with self._send_lock:
            ws = self._ws
            if ws is not None and ws.connected:
                try:
                    ws.ping()
                except (websocket.WebSocketException, OSError):
                    self._abort(ws)

    @staticmethod
    def _abort(ws: websocket.WebSocket) -> None:
        try:
            if ws.sock is not None:
                ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def drop(self) -> None:
        """Close the current connection (it will be re-established)."""
        ws = self._ws
        if ws is not None:
            self._abort(ws)

    def stop(self) -> None:
        """Stop for good: close frame, then wake the reader."""
        self.stopped.set()
        with self._send_lock:
            ws = self._ws
            if ws is not None and ws.connected:
                try:
                    ws.send_close()
                except (websocket.WebSocketException, OSError):
                    pass
        if ws is not None:
            self._abort(ws)

    # --- loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Connect, serve, reconnect with `Backoff` until stopped."""
        backoff = Backoff()
        while not self.stopped.is_set():
            self._opened = None
            try:
                self._serve_once()
            except Exception:  # never let one bad connection kill the agent
                log.exception("control channel failed")
            if self.stopped.is_set():
                break
            lived = time.monotonic() - self._opened if self._opened is not None else 0.0
            wait = backoff.after(lived)
            log.info("reconnecting in %.1fs", wait)
            self.stopped.wait(wait)

    def _serve_once(self) -> None:
        url = self._url()
        ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
        try:
            ws.connect(
                url,
                header=self._headers() + ["User-Agent: dockercloud-agent/%s" % __version__],
                timeout=15,
                suppress_origin=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            self.last_error = "HTTP %s" % exc.status_code
            log.warning(
                "the control plane refused the channel at %s: HTTP %s", url, exc.status_code
            )
            return
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            self.last_error = str(exc)
            log.warning("cannot connect to %s: %s", url, exc)
            return
        with self._send_lock:
            if self.stopped.is_set():
                ws.shutdown()
                return
            self._ws = ws
        self.connections += 1
        self._opened = time.monotonic()
        self.connected.set()
        log.info("control channel connected to %s", url)
        try:
            self._on_open()
            while not self.stopped.is_set():
                ws.settimeout(self._read_timeout())
                try:
                    opcode, data = ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    log.warning(
                        "nothing from the control plane for %.0fs: reconnecting",
                        self._read_timeout(),
                    )
                    break
                except (websocket.WebSocketException, OSError) as exc:
                    if not self.stopped.is_set():
                        log.warning("control channel lost: %s", exc or type(exc).__name__)
                    break
                if opcode == websocket.ABNF.OPCODE_CLOSE:  # answered by recv_data
                    log.info("the control plane closed the channel")
                    break
                if opcode != websocket.ABNF.OPCODE_TEXT:
                    if opcode == websocket.ABNF.OPCODE_BINARY:
                        log.warning("ignoring a binary message (%d bytes)", len(data))
                    continue  # ping (answered) / pong
                if isinstance(data, bytes):
                    data = data.decode("utf-8", "replace")
                self._dispatch(data)
        finally:
            with self._send_lock:
                self._ws = None
                self.connected.clear()
            try:
                ws.shutdown()
            except OSError:
                pass
            try:
                self._on_close()
            except Exception:
                log.exception("on_close failed")

    def _dispatch(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("ignoring a message that is not JSON: %r", data[:200])
            return
        if not isinstance(message, dict):
            log.warning("ignoring a message that is not an object: %r", data[:200])
            return
        try:
            self._on_message(message)
        except Exception:
            log.exception("handling a %r message failed", message.get("type"))
