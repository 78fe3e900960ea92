#!/usr/bin/env python3
"""The image's HEALTHCHECK (stdlib only: it runs every few seconds, no Django import).

web: `GET /healthz` on the process's own port answers 200 (the database, the cache/broker and
the channel layer are all reachable). worker and beat: the Redis broker answers PING.
"""

import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit

TIMEOUT = 4.0


def _role() -> str:
    try:
        with open("/tmp/dockercloud-role", encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return os.environ.get("DC_ROLE", "web")


def _host_name() -> str:
    """A name the portal answers for: Django refuses a Host it does not know."""
    allowed = [h.strip() for h in os.environ.get("DC_ALLOWED_HOSTS", "").split(",") if h.strip()]
    if allowed and not allowed[0].startswith("."):
        return allowed[0]
    host = urlsplit(os.environ.get("DC_PUBLIC_URL", "")).hostname or "localhost"
    return f"[{host}]" if ":" in host else host


def check_web() -> str:
    port = os.environ.get("DC_PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz",
        # The probe is local, but the settings expect what the TLS proxy sends.
        headers={"Host": _host_name(), "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return f"/healthz answered {response.status}"
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"/healthz answered {exc.code}") from None


def _redis_url() -> str:
    path = os.environ.get("REDIS_URL_FILE")
    if path:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    return os.environ.get("REDIS_URL", "")


def check_broker() -> str:
    url = urlsplit(_redis_url())
    if not url.hostname:
        raise SystemExit("REDIS_URL is not set")
    with socket.create_connection((url.hostname, url.port or 6379), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        if url.password:
            user = unquote(url.username or "default")
            sock.sendall(f"AUTH {user} {unquote(url.password)}\r\n".encode())
            if not sock.recv(64).startswith(b"+OK"):
                raise SystemExit("Redis refused the credentials in REDIS_URL")
        sock.sendall(b"PING\r\n")
        if not sock.recv(64).startswith(b"+PONG"):
            raise SystemExit("Redis did not answer PING")
    return "the broker answered PING"


def main() -> int:
    role = _role()
    try:
        print(check_web() if role == "web" else check_broker())
    except OSError as exc:
        print(f"{role}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
