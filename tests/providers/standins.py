"""Stand-ins for the DigitalOcean (v2) and Hetzner Cloud (v1) APIs, for the official clients.

These are stand-ins, not emulators: no faithful local server exists for either provider, so
these small HTTP servers (127.0.0.1, one thread per request) answer the calls the drivers
make through pydo and hcloud with the documented request and response shapes
(https://docs.digitalocean.com/reference/api/, https://docs.hetzner.cloud/): bearer-token auth
with the providers' error bodies, pagination (DigitalOcean `links.pages.next`, Hetzner
`meta.pagination`), tag and label-selector lookups, 404s for unknown ids, the fields the
clients parse (hcloud builds BoundServer, Location, ServerType and Action objects from them);
fields that neither read are left out. Knobs for the tests: `failures` (answers given instead
of the next requests') and `fail_next_create_after_storing` (a create whose answer is lost);
what the providers keep but do not show (user data) is in `user_data`.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

CREATED = "2025-01-01T00:00:00Z"


class StandIn:
    """Base: routes `(method, path, query, body)` to `handle`; records every request."""

    prefix = ""

    def __init__(self, token: str):
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []  # method, path
        self.queries: list[dict] = []  # the query of each request
        self.ids = itertools.count(1001)
        self.user_data: dict[int, str] = {}
        self.failures: list[tuple[int, dict]] = []
        self.fail_next_create_after_storing = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
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

    def requested(self, method: str, path: str) -> list[dict]:
        """The queries of the requests made to `method path`."""
        asked = zip(self.requests, self.queries, strict=True)
        return [q for request, q in asked if request == (method, self.prefix + path)]

    def _answer(self, method: str, path: str, headers, query: dict, body: dict):
        with self.lock:
            self.requests.append((method, path))
            self.queries.append(query)
            if headers.get("Authorization") != f"Bearer {self.token}":
                return self.unauthorized()
            if self.failures:
                return self.failures.pop(0)
            return self.handle(method, path.removeprefix(self.prefix), query, body)

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                status, answer = standin._answer(
                    self.command, parts.path, self.headers, query, body
                )
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        return Handler

    def unauthorized(self):
        raise NotImplementedError

    def handle(self, method, path, query, body):
        raise NotImplementedError


# -- DigitalOcean API v2 -----------------------------------------------------------------------


def do_error(status: int, error_id: str, message: str) -> tuple[int, dict]:
    return status, {"id": error_id, "message": message}


DO_NOT_FOUND = do_error(404, "not_found", "The resource you were accessing could not be found.")


class DigitalOceanStandIn(StandIn):
    prefix = "/v2"
    regions = [
        {
            "slug": "nyc3",
            "name": "New York 3",
            "available": True,
            "sizes": ["s-1vcpu-1gb"],
            "features": ["metadata"],
        },
        {
            "slug": "ams3",
            "name": "Amsterdam 3",
            "available": True,
            "sizes": ["s-1vcpu-1gb", "s-2vcpu-4gb"],
            "features": ["metadata"],
        },
        {"slug": "old1", "name": "Retired 1", "available": False, "sizes": [], "features": []},
    ]
    sizes = [
        {"slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25, "transfer": 1.0,
         "price_monthly": 6.0, "price_hourly": 0.00893, "regions": ["nyc3", "ams3"],
         "available": True, "description": "Basic"},
        {"slug": "s-2vcpu-4gb", "memory": 4096, "vcpus": 2, "disk": 80, "transfer": 4.0,
         "price_monthly": 24.0, "price_hourly": 0.03571, "regions": ["ams3"],
         "available": True, "description": "Basic"},
    ]  # fmt: skip

    def __init__(self, token: str):
        super().__init__(token)
        self.droplets: dict[int, dict] = {}

    def unauthorized(self):
        return do_error(401, "Unauthorized", "Unable to authenticate you")

    def _page(self, path: str, key: str, items: list, query: dict):
        per_page, page = int(query.get("per_page", 20)), int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = {}
        if page * per_page < len(items):
            rest = {k: v for k, v in query.items() if k != "page"}
            links["pages"] = {"next": f"{self.url}{path}?{urlencode({**rest, 'page': page + 1})}"}
        return 200, {key: chunk, "links": links, "meta": {"total": len(items)}}

    def handle(self, method, path, query, body):
        if (method, path) == ("GET", "/account"):
            return 200, {"account": {"droplet_limit": 25, "email": "x@example.com",
                                     "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
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
            return self._create(body)
        if path.startswith("/droplets/"):
            droplet = self.droplets.get(int(path.rsplit("/", 1)[1]))
            if droplet is None:
                return DO_NOT_FOUND
            if method == "GET":
                return 200, {"droplet": droplet}
            if method == "DELETE":
                del self.droplets[droplet["id"]]
                return 204, None
        return DO_NOT_FOUND

    def _create(self, body: dict):
        missing = [k for k in ("name", "region", "size", "image") if not body.get(k)]
        if missing:
            return do_error(422, "unprocessable_entity", f"{missing[0]} is required")
        if body["region"] not in {r["slug"] for r in self.regions if r["available"]}:
            return do_error(
                422, "unprocessable_entity", "You specified an invalid region for Droplet creation."
            )
        size = next((s for s in self.sizes if s["slug"] == body["size"]), None)
        if size is None or body["region"] not in size["regions"]:
            return do_error(
                422, "unprocessable_entity", "You specified an invalid size for Droplet creation."
            )
        droplet = self.add_droplet(body["name"], body["region"], size, body["image"],
                                   body.get("tags", []))  # fmt: skip
        self.user_data[droplet["id"]] = body.get("user_data")
        if self.fail_next_create_after_storing:
            self.fail_next_create_after_storing = False
            return do_error(500, "server_error", "Unexpected server-side error")
        return 202, {"droplet": droplet, "links": {"actions": []}}

    def add_droplet(self, name: str, region: str, size: dict, image: str, tags: list) -> dict:
        droplet_id = next(self.ids)
        droplet = {
            "id": droplet_id, "name": name, "status": "new", "locked": False,
            "memory": size["memory"], "vcpus": size["vcpus"], "disk": size["disk"],
            "created_at": CREATED, "tags": tags, "size_slug": size["slug"],
            "region": {"slug": region}, "image": {"slug": image},
            "networks": {"v4": [
                {"ip_address": f"203.0.113.{droplet_id % 250}", "netmask": "255.255.255.0",
                 "gateway": "203.0.113.1", "type": "public"},
                {"ip_address": f"10.10.0.{droplet_id % 250}", "netmask": "255.255.0.0",
                 "gateway": "10.10.0.1", "type": "private"},
            ], "v6": []},
        }  # fmt: skip
        self.droplets[droplet_id] = droplet
        return droplet

    def boot(self, droplet_id: int) -> None:
        """What DigitalOcean does a minute later: the droplet becomes active."""
        with self.lock:
            self.droplets[droplet_id]["status"] = "active"


# -- Hetzner Cloud API v1 ----------------------------------------------------------------------


def hetzner_error(status: int, code: str, message: str, details=None) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": message, "details": details}}


def _location(id_: int, name: str, city: str, country: str, zone: str) -> dict:
    return {"id": id_, "name": name, "description": f"{city} DC Park 1", "country": country,
            "city": city, "latitude": 50.0, "longitude": 12.0, "network_zone": zone}  # fmt: skip


def _server_type(id_: int, name: str, cores: int, memory: float, disk: int, where: dict) -> dict:
    """`where`: location name -> deprecation (None: offered)."""
    locations = [
        {"id": i, "name": n, "deprecation": d, "available": True, "recommended": d is None}
        for i, (n, d) in enumerate(where.items(), 1)
    ]
    price = {"net": "0.0050", "gross": "0.0060"}
    prices = [
        {
            "location": n,
            "price_hourly": price,
            "price_monthly": price,
            "included_traffic": 21990232555520,
            "price_per_tb_traffic": price,
        }
        for n in where
    ]
    return {"id": id_, "name": name, "description": name.upper(), "category": "shared_vcpu",
            "cores": cores, "memory": memory, "disk": disk, "storage_type": "local",
            "cpu_type": "shared", "architecture": "x86", "deprecated": None, "deprecation": None,
            "prices": prices, "locations": locations}  # fmt: skip


GONE = {"announced": "2024-06-01T00:00:00Z", "unavailable_after": "2024-09-01T00:00:00Z"}
IMAGE = {"id": 161547269, "type": "system", "status": "available", "name": "ubuntu-24.04",
         "description": "Ubuntu 24.04", "os_flavor": "ubuntu", "os_version": "24.04",
         "architecture": "x86", "rapid_deploy": True, "created": CREATED, "labels": {},
         "protection": {"delete": False}, "bound_to": None, "created_from": None,
         "deprecated": None, "deleted": None, "disk_size": 5, "image_size": None}  # fmt: skip


class HetznerStandIn(StandIn):
    prefix = "/v1"
    locations = [
        _location(1, "fsn1", "Falkenstein", "DE", "eu-central"),
        _location(2, "nbg1", "Nuremberg", "DE", "eu-central"),
        _location(3, "ash", "Ashburn, VA", "US", "us-east"),
    ]
    server_types = [
        _server_type(22, "cx22", 2, 4.0, 40, {"fsn1": None, "nbg1": None}),
        _server_type(11, "cpx11", 2, 2.0, 40, {"fsn1": None, "nbg1": None, "ash": None}),
        _server_type(1, "cx11", 1, 2.0, 20, {"fsn1": GONE}),
    ]

    def __init__(self, token: str):
        super().__init__(token)
        self.servers: dict[int, dict] = {}
        self.actions = itertools.count(1)

    def unauthorized(self):
        return hetzner_error(401, "unauthorized", "unable to authenticate")

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

    def _action(self, command: str, server_id: int) -> dict:
        return {"id": next(self.actions), "command": command, "status": "running",
                "progress": 0, "started": CREATED, "finished": None, "error": None,
                "resources": [{"id": server_id, "type": "server"}]}  # fmt: skip

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
            return self._create(body)
        if path.startswith("/servers/"):
            server = self.servers.get(int(path.rsplit("/", 1)[1]))
            if server is None:
                return hetzner_error(404, "not_found", "server not found")
            if method == "GET":
                return 200, {"server": server}
            if method == "DELETE":
                del self.servers[server["id"]]
                return 200, {"action": self._action("delete_server", server["id"])}
        return hetzner_error(404, "not_found", "not found")

    def _create(self, body: dict):
        if any(s["name"] == body.get("name") for s in self.servers.values()):
            return hetzner_error(409, "uniqueness_error", "server name is already used")
        location = next((x for x in self.locations if x["name"] == body.get("location")), None)
        server_type = next(
            (t for t in self.server_types if t["name"] == body.get("server_type")), None
        )
        for field, found in (("server_type", server_type), ("location", location)):
            if found is None:
                return hetzner_error(
                    400, "invalid_input", f"invalid input in field '{field}'",
                    {"fields": [{"name": field, "messages": ["not found"]}]},
                )  # fmt: skip
        server = self.add_server(body["name"], server_type, location, body.get("labels", {}))
        server["image"] = {**IMAGE, "name": body.get("image")}  # as asked: a name (or an id)
        server_id = server["id"]
        self.user_data[server_id] = body.get("user_data")
        if self.fail_next_create_after_storing:
            self.fail_next_create_after_storing = False
            return hetzner_error(500, "server_error", "internal server error")
        return 201, {"server": server, "action": self._action("create_server", server_id),
                     "next_actions": [self._action("start_server", server_id)],
                     "root_password": None}  # fmt: skip

    def add_server(self, name: str, server_type: dict, location: dict, labels: dict) -> dict:
        server_id = next(self.ids)
        server = {
            "id": server_id, "name": name, "status": "initializing",
            "created": CREATED, "labels": labels,
            "public_net": {
                "ipv4": {"id": server_id, "ip": f"198.51.100.{server_id % 250}",
                         "blocked": False, "dns_ptr": "static.example.com"},
                "ipv6": {"id": server_id + 1, "ip": "2001:db8::/64", "blocked": False,
                         "dns_ptr": []},
                "floating_ips": [], "firewalls": [],
            },
            "private_net": [], "server_type": server_type, "location": location,
            "image": IMAGE, "iso": None, "rescue_enabled": False, "locked": False,
            "backup_window": None, "outgoing_traffic": 0, "ingoing_traffic": 0,
            "included_traffic": 21990232555520, "primary_disk_size": server_type["disk"],
            "protection": {"delete": False, "rebuild": False}, "volumes": [],
            "load_balancers": [], "placement_group": None,
        }  # fmt: skip
        self.servers[server_id] = server
        return server

    def boot(self, server_id: int) -> None:
        """What Hetzner does seconds later: the server is running."""
        with self.lock:
            self.servers[server_id]["status"] = "running"
