"""The fleet API under a large fleet: `GET /api/infra/v1/<org>/node/` with 10,000 and 100,000
nodes in one organization, against raw SQL for the same page.

    make bench        # or, with DATABASE_URL (PostgreSQL): .venv/bin/python bench/fleet_api.py
                      #   [--sizes 10000 100000] [--requests 200]

It starts one `manage.py serve` on a scratch database (created and dropped here), asks for the
first page (limit 25), a one-node page (limit 1) and a deep page (offset = half the fleet) with
an API key over one keep-alive connection, and prints p50/p95 per page beside the same SELECT
and count run directly on PostgreSQL (the ceiling) and the ratio. Figures, not a pass/fail test.
"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402
from events import ROOT, scratch_database, start_servers, stop_servers  # noqa: E402

TARGET_P95_MS = 15.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=200)
    return parser.parse_args(argv)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def grow_fleet(organization, size: int) -> None:
    """Add nodes until the organization has `size`, created a second apart (newest first)."""
    from django.utils import timezone

    from nodes.models import Node, NodeState

    have = Node.objects.filter(organization=organization).count()
    start = timezone.now() - timedelta(seconds=size)
    batch = []
    for n in range(have, size):
        batch.append(
            Node(
                organization=organization,
                state=NodeState.DEPLOYED,
                hostname=f"bench-node-{n}",
                public_ip=f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
                docker_version="20.10.24",
                tags=[{"name": f"rack-{n % 40}"}],
                last_metric={"cpu": 1.5, "memory": 123456, "disk": 654321},
                created=start + timedelta(seconds=n),
            )
        )
        if len(batch) == 5000:
            Node.objects.bulk_create(batch)
            batch = []
    Node.objects.bulk_create(batch)


def timed(fn, count: int) -> list[float]:
    fn()  # warm
    times = []
    for _ in range(count):
        begin = time.perf_counter()
        fn()
        times.append((time.perf_counter() - begin) * 1000)
    return times


def raw_page(organization_id: int, limit: int, offset: int):
    from django.db import connection

    def run():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT * FROM nodes_node WHERE organization_id = %s "
                "ORDER BY created DESC, id DESC LIMIT %s OFFSET %s",
                [organization_id, limit, offset],
            )
            cursor.fetchall()
            cursor.execute(
                "SELECT count(*) FROM nodes_node WHERE organization_id = %s", [organization_id]
            )
            cursor.fetchone()

    return run


def main(argv=None) -> int:
    args = parse_args(argv)
    base_db = os.environ.get("DATABASE_URL", "")
    if not base_db.startswith("postgres"):
        print("bench/fleet_api.py: needs DATABASE_URL (PostgreSQL): run `make bench`")
        return 1
    db_url, drop = scratch_database(base_db)
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        env = dict(
            os.environ,
            DATABASE_URL=db_url,
            REDIS_URL="",
            DC_VAR_DIR=str(Path(tmp) / "var"),
            DC_LOG_LEVEL="WARNING",
            DC_DEBUG="0",
            DJANGO_SETTINGS_MODULE="dockercloud.settings",
        )
        os.environ.update(DATABASE_URL=db_url, REDIS_URL="", DC_VAR_DIR=env["DC_VAR_DIR"])
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockercloud.settings")
        servers = []
        measured = {}  # (size, page) -> (API p95, raw SQL p95), ms
        try:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            import django

            django.setup()
            from accounts.audit import Actor
            from accounts.services import orgs, users

            user = users.user_signup(
                username="fleet", email="fleet@bench.test", password=secrets.token_urlsafe(16)
            )
            org = orgs.organization_create(actor=Actor(user=user), name="fleetorg")
            _, key = users.apikey_create(actor=Actor(user=user), user=user, label="bench")
            servers = start_servers(1, env, Path(tmp))
            url = f"http://127.0.0.1:{servers[0][1]}/api/infra/v1/fleetorg/node/"
            session = requests.Session()
            session.auth = ("fleet", key)
            print(f"bench/fleet_api.py on {os.cpu_count()} CPUs, PostgreSQL, one web process")
            for size in args.sizes:
                print(f"  growing the fleet to {size:,} nodes ...", flush=True)
                grow_fleet(org, size)
                from django.db import connection

                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE nodes_node")
                for label, limit, offset in (
                    ("first page", 25, 0),
                    ("one node", 1, 0),
                    ("deep page", 25, size // 2),
                ):

                    def get(limit=limit, offset=offset):
                        params = {"limit": limit, "offset": offset}
                        try:
                            answer = session.get(url, params=params)
                        except requests.ConnectionError:
                            # The server closes a keep-alive connection idle for 5 s (while the
                            # raw SQL ran): the warm-up request opens a new one.
                            answer = session.get(url, params=params)
                        assert answer.status_code == 200, answer.text[:200]

                    api = timed(get, args.requests)
                    raw = timed(raw_page(org.pk, limit, offset), args.requests)
                    ratio = p(api, 0.95) / max(p(raw, 0.95), 0.001)
                    measured[size, label] = (p(api, 0.95), p(raw, 0.95))
                    print(
                        f"  {size:>7,} nodes, {label:<10}  API p50 {statistics.median(api):6.1f} ms"
                        f"  p95 {p(api, 0.95):6.1f} ms (target {TARGET_P95_MS:.0f})"
                        f"   raw SQL p95 {p(raw, 0.95):6.1f} ms   x{ratio:.1f}",
                        flush=True,
                    )
        finally:
            stop_servers(servers)
            drop()
    record(measured, max(args.sizes))
    return 0


def record(measured: dict, size: int) -> None:
    """The first page at the largest fleet, beside the same page in raw SQL."""
    api, raw = measured.get((size, "first page"), (None, None))
    figures = {"node_list_p95_ms": round(api, 2) if api is not None else None}
    ceilings = {"raw_sql_p95_ms": round(raw, 2) if raw is not None else None}
    print(
        f"  node list p95 {api or 0:.1f} ms at {size:,} nodes (target {TARGET_P95_MS:.0f}), "
        f"raw SQL {raw or 0:.1f} ms, {results.ratio(api, raw)}",
        flush=True,
    )
    results.record("fleet_api", figures, ceilings)


if __name__ == "__main__":
    sys.exit(main())
