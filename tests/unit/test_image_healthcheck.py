"""The image's HEALTHCHECK script (docker/healthcheck.py), run against real servers: the web
check against a live HTTP server, the worker/beat check against the suite's Redis."""

import http.server
import importlib.util
import os
import socket
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "healthcheck.py"


@pytest.fixture
def healthcheck(monkeypatch):
    for name in ("DC_ALLOWED_HOSTS", "DC_PUBLIC_URL", "REDIS_URL_FILE", "DC_PORT"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("dc_image_healthcheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_header_is_a_name_the_portal_answers_for(healthcheck, monkeypatch):
    monkeypatch.setenv("DC_PUBLIC_URL", "https://[2001:db8::1]:8443/")
    assert healthcheck._host_name() == "[2001:db8::1]"
    monkeypatch.setenv("DC_PUBLIC_URL", "https://cloud.example.com")
    assert healthcheck._host_name() == "cloud.example.com"
    monkeypatch.setenv("DC_ALLOWED_HOSTS", "portal.example.com, cloud.example.com")
    assert healthcheck._host_name() == "portal.example.com"


def _serve(status: int, seen: list):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            seen.append((self.path, self.headers["Host"], self.headers["X-Forwarded-Proto"]))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("status", [200, 503])
def test_web_check_asks_healthz_and_fails_on_an_error(healthcheck, monkeypatch, status):
    seen: list = []
    server = _serve(status, seen)
    try:
        monkeypatch.setenv("DC_PORT", str(server.server_port))
        monkeypatch.setenv("DC_PUBLIC_URL", "https://cloud.example.com")
        if status == 200:
            assert healthcheck.check_web() == "/healthz answered 200"
        else:
            with pytest.raises(SystemExit, match="503"):
                healthcheck.check_web()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("/healthz", "cloud.example.com", "https")]


def test_broker_check_pings_redis_and_fails_when_nothing_answers(healthcheck, monkeypatch):
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs the suite's Redis (REDIS_URL)")
    monkeypatch.setenv("REDIS_URL", url)
    assert healthcheck.check_broker() == "the broker answered PING"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, never listening: refused
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed}/0")
        with pytest.raises(OSError):
            healthcheck.check_broker()
