"""Small local stand-ins for the DigitalOcean (v2) and Hetzner Cloud (v1) REST APIs.

Neither provider has a local emulator, so these follow the documented request and response
shapes (https://docs.digitalocean.com/reference/api/, https://docs.hetzner.cloud/) closely
enough for the drivers: bearer-token auth with the providers' error bodies, pagination
(DigitalOcean `links.pages.next`, Hetzner `meta.pagination.next_page`), tag / label-selector
lookups, and 404s for unknown ids. Real HTTP on 127.0.0.1, one thread per request.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class StandIn:
    """Base: routes `(method, path)` to `handle`; records requests (without bodies' secrets)."""

    prefix = ""

    def __init__(self, token: str):
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.ids = itertools.count(1001)
        self.fail_next_create_after_storing = False
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{self.prefix}"

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self, method: str):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                with standin.lock:
                    standin.requests.append((method, parts.path))
                    if self.headers.get("Authorization") != f"Bearer {standin.token}":
                        status, answer = standin.unauthorized()
                    else:
                        path = parts.path.removeprefix(standin.prefix)
                        status, answer = standin.handle(method, path, query, body)
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

        return Handler

    def unauthorized(self):
        raise NotImplementedError

    def handle(self, method, path, query, body):
        raise NotImplementedError


DO_NOT_FOUND = {"id": "not_found", "message": "The resource you were accessing could not be found."}


def hetzner_error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "details": {}}}


class DigitalOceanStandIn(StandIn):
    prefix = "/v2"
    regions = [
        {"slug": "nyc3", "name": "New York 3", "available": True, "sizes": ["s-1vcpu-1gb"]},
        {"slug": "ams3", "name": "Amsterdam 3", "available": True, "sizes": ["s-1vcpu-1gb"]},
        {"slug": "old1", "name": "Retired 1", "available": False, "sizes": []},
    ]
    sizes = [
        {"slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25, "available": True,
         "regions": ["nyc3", "ams3"], "price_monthly": 6.0},
        {"slug": "s-2vcpu-4gb", "memory": 4096, "vcpus": 2, "disk": 80, "available": True,
         "regions": ["ams3"], "price_monthly": 24.0},
    ]  # fmt: skip

    def __init__(self, token: str):
        super().__init__(token)
        self.droplets: dict[int, dict] = {}

    def unauthorized(self):
        return 401, {"id": "Unauthorized", "message": "Unable to authenticate you"}

    def _page(self, path: str, key: str, items: list, query: dict):
        per_page, page = int(query.get("per_page", 20)), int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = {}
        if page * per_page < len(items):
            rest = {k: v for k, v in query.items() if k != "page"}
            nxt = urlencode({**rest, "page": page + 1})
            links["pages"] = {"next": f"{self.url}{path}?{nxt}"}
        return 200, {key: chunk, "links": links, "meta": {"total": len(items)}}

    def handle(self, method, path, query, body):
        if (method, path) == ("GET", "/account"):
            return 200, {"account": {"droplet_limit": 25, "email": "x@example.com",
                                     "status": "active", "email_verified": True}}  # fmt: skip
        if (method, path) == ("GET", "/regions"):
            return self._page(path, "regions", self.regions, query)
        if (method, path) == ("GET", "/sizes"):
            return self._page(path, "sizes", self.sizes, query)
        if (method, path) == ("GET", "/droplets"):
            found = list(self.droplets.values())
            if "tag_name" in query:
                found = [d for d in found if query["tag_name"] in d["tags"]]
            return self._page(path, "droplets", found, query)
        if (method, path) == ("POST", "/droplets"):
            missing = [k for k in ("name", "region", "size", "image") if not body.get(k)]
            if missing:
                return 422, {"id": "unprocessable_entity", "message": f"{missing[0]} is required"}
            droplet_id = next(self.ids)
            droplet = {
                "id": droplet_id, "name": body["name"], "status": "new",
                "tags": body.get("tags", []),
                "region": {"slug": body["region"]}, "size_slug": body["size"],
                "user_data": body.get("user_data"),
                "networks": {"v4": [
                    {"ip_address": f"203.0.113.{droplet_id % 250}", "type": "public"},
                    {"ip_address": f"10.10.0.{droplet_id % 250}", "type": "private"},
                ], "v6": []},
            }  # fmt: skip
            self.droplets[droplet_id] = droplet
            if self.fail_next_create_after_storing:
                self.fail_next_create_after_storing = False
                return 500, {"id": "server_error", "message": "Unexpected server-side error"}
            return 202, {"droplet": droplet, "links": {"actions": []}}
        if path.startswith("/droplets/"):
            droplet = self.droplets.get(int(path.rsplit("/", 1)[1]))
            if droplet is None:
                return 404, DO_NOT_FOUND
            if method == "GET":
                return 200, {"droplet": droplet}
            if method == "DELETE":
                del self.droplets[droplet["id"]]
                return 204, None
        return 404, {
            "id": "not_found",
            "message": "The resource you were accessing could not be found.",
        }

    def boot(self, droplet_id: int) -> None:
        """What DigitalOcean does a minute later: the droplet becomes active."""
        with self.lock:
            self.droplets[droplet_id]["status"] = "active"


class HetznerStandIn(StandIn):
    prefix = "/v1"
    locations = [
        {
            "id": 1,
            "name": "fsn1",
            "description": "Falkenstein DC Park 1",
            "country": "DE",
            "city": "Falkenstein",
            "network_zone": "eu-central",
        },
        {
            "id": 2,
            "name": "nbg1",
            "description": "Nuremberg DC Park 1",
            "country": "DE",
            "city": "Nuremberg",
            "network_zone": "eu-central",
        },
        {
            "id": 3,
            "name": "ash",
            "description": "Ashburn, VA",
            "country": "US",
            "city": "Ashburn, VA",
            "network_zone": "us-east",
        },
    ]
    server_types = [
        {"id": 22, "name": "cx22", "description": "CX22", "cores": 2, "memory": 4.0, "disk": 40,
         "deprecated": False, "prices": [{"location": "fsn1"}, {"location": "nbg1"}]},
        {"id": 11, "name": "cpx11", "description": "CPX11", "cores": 2, "memory": 2.0, "disk": 40,
         "deprecated": False,
         "prices": [{"location": "fsn1"}, {"location": "nbg1"}, {"location": "ash"}]},
        {"id": 1, "name": "cx11", "description": "CX11", "cores": 1, "memory": 2.0, "disk": 20,
         "deprecated": True, "prices": [{"location": "fsn1"}]},
    ]  # fmt: skip

    def __init__(self, token: str):
        super().__init__(token)
        self.servers: dict[int, dict] = {}

    def unauthorized(self):
        return 401, {
            "error": {"code": "unauthorized", "message": "unable to authenticate", "details": {}}
        }

    def _page(self, key: str, items: list, query: dict):
        per_page, page = int(query.get("per_page", 25)), int(query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        pagination = {
            "page": page, "per_page": per_page, "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last else None, "last_page": last,
            "total_entries": len(items),
        }  # fmt: skip
        chunk = items[(page - 1) * per_page : page * per_page]
        return 200, {key: chunk, "meta": {"pagination": pagination}}

    @staticmethod
    def _selected(server: dict, selector: str) -> bool:
        key, _, value = selector.replace("==", "=").partition("=")
        return server["labels"].get(key) == value

    def handle(self, method, path, query, body):
        if (method, path) == ("GET", "/locations"):
            return self._page("locations", self.locations, query)
        if (method, path) == ("GET", "/server_types"):
            return self._page("server_types", self.server_types, query)
        if (method, path) == ("GET", "/servers"):
            found = list(self.servers.values())
            if "label_selector" in query:
                found = [s for s in found if self._selected(s, query["label_selector"])]
            return self._page("servers", found, query)
        if (method, path) == ("POST", "/servers"):
            if any(s["name"] == body.get("name") for s in self.servers.values()):
                return 409, hetzner_error("uniqueness_error", "server name is already used")
            if body.get("server_type") not in {t["name"] for t in self.server_types}:
                return 400, hetzner_error("invalid_input", "invalid server type")
            server_id = next(self.ids)
            server = {
                "id": server_id, "name": body["name"], "status": "initializing",
                "labels": body.get("labels", {}), "user_data": body.get("user_data"),
                "public_net": {"ipv4": {"ip": f"198.51.100.{server_id % 250}"},
                               "ipv6": {"ip": "2001:db8::/64"}},
                "private_net": [], "datacenter": {"location": {"name": body["location"]}},
            }  # fmt: skip
            self.servers[server_id] = server
            return 201, {"server": server, "action": {"id": 1, "command": "create_server",
                                                      "status": "running"},
                         "next_actions": [], "root_password": None}  # fmt: skip
        if path.startswith("/servers/"):
            server = self.servers.get(int(path.rsplit("/", 1)[1]))
            if server is None:
                return 404, hetzner_error("not_found", "server not found")
            if method == "GET":
                return 200, {"server": server}
            if method == "DELETE":
                del self.servers[server["id"]]
                return 200, {"action": {"id": 2, "command": "delete_server", "status": "running"}}
        return 404, hetzner_error("not_found", "not found")

    def boot(self, server_id: int) -> None:
        with self.lock:
            self.servers[server_id]["status"] = "running"
