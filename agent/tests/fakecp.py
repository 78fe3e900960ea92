"""A small, real control plane for the agent's tests.

HTTP (stdlib ``http.server``): ``POST /api/agent/v1/register/`` signs the CSR with a test CA
(``cryptography``); ``GET <path>`` serves ``files``. Websocket (``websockets`` 15, asyncio
server in a thread): records every JSON message, can send messages and drop connections.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import http
import http.server
import ipaddress
import json
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("test CA"))
            .issuer_name(_name("test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, public_key: Any, cn: str, addresses: List[str], client: bool) -> str:
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = x509.oid.ExtendedKeyUsageOID
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage([usage.CLIENT_AUTH if client else usage.SERVER_AUTH]),
                critical=False,
            )
        )
        if addresses:
            sans: List[x509.GeneralName] = [x509.DNSName(cn)]
            sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign_csr(self, csr_pem: str, addresses: List[str]) -> Tuple[str, str]:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return cn, self.sign(csr.public_key(), cn, addresses, client=False)

    def client_files(self, directory: str) -> Tuple[str, str]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = self.sign(key.public_key(), "worker", [], client=True)
        key_path, cert_path = directory + "/client-key.pem", directory + "/client-cert.pem"
        with open(key_path, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
            )
        with open(cert_path, "w") as f:
            f.write(cert)
        return key_path, cert_path


def signed_upgrade(
    key: ed25519.Ed25519PrivateKey,
    node_uuid: str,
    url: str,
    blob: bytes,
    version: str,
    expires: Optional[int] = None,
) -> Dict[str, Any]:
    """``upgrade_agent`` arguments signed as the control plane signs them (nodes.agent_rpc)."""
    sha256 = hashlib.sha256(blob).hexdigest()
    expires = int(time.time()) + 600 if expires is None else expires
    message = (
        "dockercloud upgrade_agent v1\nnode %s\nsha256 %s\nversion %s\nexpires %d\n"
        % (node_uuid, sha256, version, expires)
    ).encode()
    return {
        "url": url,
        "sha256": sha256,
        "version": version,
        "expires": expires,
        "signature": base64.b64encode(key.sign(message)).decode(),
    }


def public_b64(key: ed25519.Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


class FakeControlPlane:
    def __init__(self) -> None:
        self.ca = TestCA()
        self.signing_key = ed25519.Ed25519PrivateKey.generate()
        self.answer_signing_key: Optional[str] = None  # sent at registration instead, if set
        self.tokens = {"good-token"}
        self.node_uuid = str(uuid.uuid4())
        self.secret = "secret-" + uuid.uuid4().hex
        self.daemon: Dict[str, Any] = {
            "tcp": "tcp://127.0.0.1:2375",
            "log_opts": {"max-size": "10m", "max-file": "3"},
            "extra_args": [],
        }
        self.upgrade_docker_command = "true"
        self.heartbeat_interval = 15
        self.files: Dict[str, bytes] = {}
        self.register_requests: List[Dict[str, Any]] = []
        self.signed_cn: Optional[str] = None
        self.reject = False
        self.rejected = 0
        self.received: List[Tuple[int, Dict[str, Any]]] = []
        self.auth_headers: List[Optional[str]] = []
        self._conns: List[Any] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Future] = None
        self.ws_port = 0
        self.http_port = 0

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeControlPlane:
        threading.Thread(target=self._ws_thread, name="fake-ws", daemon=True).start()
        assert self._ready.wait(10), "websocket server did not start"
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        self._httpd.daemon_threads = True
        self.http_port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, name="fake-http", daemon=True).start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)

    @property
    def signing_key_b64(self) -> str:
        return public_b64(self.signing_key)

    def signed_upgrade(self, url: str, blob: bytes, version: str, **kw: Any) -> Dict[str, Any]:
        return signed_upgrade(self.signing_key, self.node_uuid, url, blob, version, **kw)

    @property
    def http_url(self) -> str:
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def ws_url(self) -> str:
        return "ws://127.0.0.1:%d/ws/agent/" % self.ws_port

    # --- websocket ------------------------------------------------------------------------
    def _ws_thread(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._ws_main())

    async def _ws_main(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(
            self._handler, "127.0.0.1", 0, process_request=self._process_request
        ) as server:
            self.ws_port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    def _process_request(self, connection: Any, request: Any) -> Any:
        expected = "Agent %s:%s" % (self.node_uuid, self.secret)
        if self.reject or request.headers.get("Authorization") != expected:
            with self._cond:
                self.rejected += 1
                self._cond.notify_all()
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "bad agent credentials\n")
        return None

    async def _handler(self, ws: Any) -> None:
        with self._cond:
            index = len(self._conns)
            self._conns.append(ws)
            self.auth_headers.append(ws.request.headers.get("Authorization"))
        try:
            async for raw in ws:
                message = json.loads(raw)
                with self._cond:
                    self.received.append((index, message))
                    self._cond.notify_all()
        except ConnectionClosed:
            pass

    @property
    def connections(self) -> int:
        with self._cond:
            return len(self._conns)

    def send(self, message: Any, conn: int = -1) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        ws = self._conns[conn]
        asyncio.run_coroutine_threadsafe(ws.send(text), self._loop).result(10)

    def drop(self, conn: int = -1) -> None:
        """Abort the TCP connection (no close handshake)."""
        ws = self._conns[conn]
        self._loop.call_soon_threadsafe(ws.transport.abort)

    def wait_for(
        self,
        predicate: Callable[[Dict[str, Any]], bool],
        timeout: float = 10.0,
        after: int = 0,
        what: str = "message",
    ) -> Dict[str, Any]:
        """First received message (from index ``after`` on) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _index, message in self.received[after:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    kinds = [m.get("type") for _, m in self.received[-20:]]
                    raise AssertionError("timed out waiting for %s (last: %s)" % (what, kinds))
                self._cond.wait(remaining)

    def wait_condition(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for %s" % what)
                self._cond.wait(min(remaining, 0.2))

    def mark(self) -> int:
        with self._cond:
            return len(self.received)

    def command(self, name: str, args: Optional[Dict[str, Any]] = None, timeout: float = 20):
        cid = str(uuid.uuid4())
        after = self.mark()
        self.send({"type": "command", "id": cid, "name": name, "args": args or {}})
        return self.wait_for(
            lambda m: m.get("type") == "result" and m.get("id") == cid,
            timeout,
            after,
            "result of %s" % name,
        )

    # --- http -----------------------------------------------------------------------------
    def _http_handler(self) -> type:
        cp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                data = cp.files.get(self.path)
                if data is None:
                    self._json(404, {"error": "not found"})
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/api/agent/v1/register/":
                    self._json(404, {"error": "not found"})
                    return
                cp.register_requests.append(body)
                token = body.get("token")
                if token not in cp.tokens:
                    self._json(410, {"error": "registration token expired or already used"})
                    return
                cp.tokens.discard(token)
                addresses = list(body["facts"]["addresses"]) + ["127.0.0.1"]
                cn, cert = cp.ca.sign_csr(body["csr"], addresses)
                cp.signed_cn = cn
                self._json(
                    201,
                    {
                        "node_uuid": cp.node_uuid,
                        "secret": cp.secret,
                        "cert": cert,
                        "ca_cert": cp.ca.pem,
                        "signing_key": cp.answer_signing_key or cp.signing_key_b64,
                        "ws_url": cp.ws_url,
                        "heartbeat_interval": cp.heartbeat_interval,
                        "daemon": cp.daemon,
                        "upgrade_docker_command": cp.upgrade_docker_command,
                    },
                )

        return Handler
