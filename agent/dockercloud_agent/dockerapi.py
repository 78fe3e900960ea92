"""A tiny HTTP/1.1 client for the Docker Engine API over its unix socket (stdlib only).

One connection per request (``Connection: close``). Bodies are read incrementally so that
streaming endpoints (``/events``, logs with ``follow=1``, pulls) can be forwarded piece by piece
as they arrive. ``Response.abort()`` may be called from another thread to cancel a read.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote

MAX_LINE = 65536
MAX_HEADERS = 256
PIECE = 65536
# Headers the client sets itself; given ones are dropped (hop-by-hop or framing).
_REQUEST_DROP = {
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


class DockerError(Exception):
    """A transport failure, or an API answer with an unexpected status."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class Response:
    """Status and headers of an answer; the body is read with ``iter_body`` or ``read``."""

    def __init__(
        self,
        sock: socket.socket,
        reader: Any,
        method: str,
        status: int,
        reason: str,
        headers: List[Tuple[str, str]],
    ) -> None:
        self._sock = sock
        self._reader = reader
        self._method = method
        self.status = status
        self.reason = reason
        self.headers = headers
        self._aborted = False
        self._closed = False
        self._lock = threading.Lock()

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def header_dict(self) -> Dict[str, str]:
        """Headers as one dict (repeated names joined with ', ')."""
        out: Dict[str, str] = {}
        for key, value in self.headers:
            out[key] = out[key] + ", " + value if key in out else value
        return out

    @property
    def chunked(self) -> bool:
        return "chunked" in (self.header("transfer-encoding") or "").lower()

    @property
    def aborted(self) -> bool:
        return self._aborted

    def set_timeout(self, timeout: Optional[float]) -> None:
        self._sock.settimeout(timeout)

    def iter_body(self, piece: int = PIECE) -> Iterator[bytes]:
        """Yield the (de-chunked) body in pieces as soon as bytes arrive."""
        reader = self._reader
        try:
            no_body = self._method == "HEAD" or self.status in (204, 304) or self.status < 200
            if no_body and self.status != 101:
                return
            if self.status != 101 and self.chunked:
                while True:
                    line = reader.readline(MAX_LINE)
                    if not line:
                        raise DockerError("connection closed inside a chunked body")
                    try:
                        size = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        raise DockerError("bad chunk size line %r" % line[:80]) from None
                    if size == 0:
                        while reader.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return
                    remaining = size
                    while remaining:
                        data = reader.read1(min(remaining, piece))
                        if not data:
                            raise DockerError("connection closed inside a chunk")
                        remaining -= len(data)
                        yield data
                    reader.readline(MAX_LINE)  # CRLF after the chunk
            length = self.header("content-length") if self.status != 101 else None
            if length is not None:
                try:
                    remaining = int(length)
                except ValueError:
                    raise DockerError("bad Content-Length %r" % length) from None
                while remaining > 0:
                    data = reader.read1(min(remaining, piece))
                    if not data:
                        raise DockerError("connection closed before the end of the body")
                    remaining -= len(data)
                    yield data
                return
            while True:  # no framing (or 101 hijack): until the daemon closes
                data = reader.read1(piece)
                if not data:
                    return
                yield data
        except (OSError, ValueError, DockerError) as exc:
            if self._aborted:  # cancelled from another thread: a quiet end
                return
            if isinstance(exc, DockerError):
                raise
            raise DockerError("reading the body failed: %s" % exc) from None
        finally:
            self.close()

    def read(self, limit: int = 256 * 1024 * 1024) -> bytes:
        parts = []
        total = 0
        for data in self.iter_body():
            total += len(data)
            if total > limit:
                self.close()
                raise DockerError("response body larger than %d bytes" % limit)
            parts.append(data)
        return b"".join(parts)

    def json(self) -> Any:
        body = self.read()
        if not body:
            return None
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError as exc:
            raise DockerError("bad JSON from the daemon: %s" % exc, self.status) from None

    def abort(self) -> None:
        """Cancel from any thread: wakes a reader blocked on the socket."""
        self._aborted = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._reader.close()
        except (OSError, ValueError):
            pass
        try:
            self._sock.close()
        except OSError:
            pass


def _check_token(value: str, what: str) -> None:
    if not value or any(c in value for c in "\r\n\0") or (what != "header value" and " " in value):
        raise DockerError("invalid %s %r" % (what, value[:80]))


class DockerAPI:
    """Requests to the Engine API on ``sock_path``."""

    def __init__(self, sock_path: str, timeout: float = 30.0) -> None:
        self.sock_path = sock_path
        self.timeout = timeout

    def open(
        self,
        method: str,
        path: str,
        headers: Optional[Dict[str, str]] = None,
        body: Optional[bytes] = None,
        timeout: Optional[float] = -1,
        on_socket: Optional[Callable[[socket.socket], None]] = None,
    ) -> Response:
        """Send a request and read the status line and headers.

        ``on_socket`` receives the socket before it connects, so another thread can cancel
        (``shutdown``) a request that is still waiting for its headers.

        ``timeout`` (seconds, None = never) applies to connect, send and each socket read;
        the default -1 means ``self.timeout``. Use ``Response.set_timeout`` to change it
        for the body.
        """
        method = method.upper()
        _check_token(method, "method")
        _check_token(path, "path")
        if not path.startswith("/"):
            raise DockerError("path must start with '/': %r" % path[:80])
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: docker"]
        for key, value in (headers or {}).items():
            key, value = str(key), str(value)
            if key.lower() in _REQUEST_DROP:
                continue
            _check_token(key, "header name")
            if any(c in value for c in "\r\n\0"):
                raise DockerError("invalid header value for %s" % key)
            lines.append("%s: %s" % (key, value))
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: %d" % len(body or b""))
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout if timeout == -1 else timeout)
        if on_socket is not None:
            on_socket(sock)
        try:
            sock.connect(self.sock_path)
            sock.sendall(head + (body or b""))
            reader = sock.makefile("rb", buffering=PIECE)
            try:
                status, reason, resp_headers = _read_head(reader)
            except BaseException:
                reader.close()
                raise
        except (OSError, ValueError) as exc:
            sock.close()
            raise DockerError("docker socket %s: %s" % (self.sock_path, exc)) from None
        except BaseException:
            sock.close()
            raise
        return Response(sock, reader, method, status, reason, resp_headers)

    # --- conveniences --------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        ok: Tuple[int, ...] = (200, 201, 204, 304),
        timeout: Optional[float] = -1,
    ) -> Any:
        """JSON request; returns the decoded answer, raises DockerError on a bad status."""
        headers = {}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        resp = self.open(method, path, headers, body, timeout=timeout)
        if resp.status not in ok:
            raw = resp.read(1024 * 1024)
            message = raw.decode("utf-8", "replace").strip()
            try:
                message = json.loads(message).get("message") or message
            except (ValueError, AttributeError):
                pass
            raise DockerError("%s %s: %d %s" % (method, path, resp.status, message), resp.status)
        return resp.json()

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            resp = self.open("GET", "/_ping", timeout=timeout)
            body = resp.read(1024)
        except DockerError:
            return False
        return resp.status == 200 and body.strip() == b"OK"

    def version(self, timeout: Optional[float] = -1) -> Dict[str, Any]:
        return self.call("GET", "/version", timeout=timeout) or {}

    def containers(self, all: bool = True, timeout: Optional[float] = -1) -> List[Dict[str, Any]]:
        return self.call("GET", "/containers/json?all=%d" % int(all), timeout=timeout) or []

    def running_container_ids(self) -> List[str]:
        return [c["Id"] for c in self.containers(all=False) if c.get("Id")]

    def inspect_container(self, cid: str) -> Dict[str, Any]:
        return self.call("GET", "/containers/%s/json" % quote(cid, safe="")) or {}

    def start_container(self, cid: str) -> None:
        self.call("POST", "/containers/%s/start" % quote(cid, safe=""), timeout=120)


def _read_head(reader: Any) -> Tuple[int, str, List[Tuple[str, str]]]:
    line = reader.readline(MAX_LINE)
    if not line:
        raise DockerError("the daemon closed the connection without answering")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise DockerError("bad status line %r" % line[:80])
    try:
        status = int(parts[1])
    except ValueError:
        raise DockerError("bad status line %r" % line[:80]) from None
    reason = parts[2] if len(parts) > 2 else ""
    headers: List[Tuple[str, str]] = []
    while True:
        line = reader.readline(MAX_LINE)
        if not line:
            raise DockerError("connection closed inside the response headers")
        if line in (b"\r\n", b"\n"):
            break
        if len(headers) >= MAX_HEADERS:
            raise DockerError("too many response headers")
        text = line.decode("latin-1").rstrip("\r\n")
        if ":" not in text:
            continue
        key, value = text.split(":", 1)
        headers.append((key.strip(), value.strip()))
    return status, reason, headers
