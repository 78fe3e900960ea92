"""Many agents on one web process: memory and CPU per connected agent, heartbeats recorded,
probes queued when they all reconnect at once.

    source /tmp/dcenv.sh   # or any DATABASE_URL (PostgreSQL) + REDIS_URL
    .venv/bin/python bench/agents.py [--agents 3000] [--clients 4] [--interval 15]

It starts a real `manage.py serve` (web only: no worker consumes the queue, so every task queued
stays countable) on a scratch database and a scratch Redis database, registers --agents nodes in
the database, and connects as many simulated agents speaking the real protocol (`Authorization:
Agent uuid:secret`, hello, a heartbeat at once and every --interval seconds) from --clients
processes (a process may hold at most 20,000 open files here). The liveness flush runs in this
process every DC_LIVENESS_FLUSH_SECONDS, as a worker's beat job would. It prints:

- agents connected, and KiB per agent (the server's RSS growth / agents);
- the server's CPU in % of one core over one heartbeat interval once all are connected;
- heartbeats recorded: nodes whose row shows a heartbeat after that interval (and a flush);
- probes queued on a reconnect storm: the server is restarted and every agent reconnects;
  2 % of the nodes are Deploying (they need one), the rest Deployed (they need none);
- the ceiling: a bare `websockets` server holding as many idle connections (KiB per one).

Figures, not a pass/fail test; they go to bench/results via bench/results.py.
"""

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import results  # noqa: E402
from agentload import Clients  # noqa: E402
from events import cpu_seconds, free_port, scratch_database, stop_servers  # noqa: E402

DEPLOYING_SHARE = 0.02
TARGETS = {"kib_per_agent": 100, "agent_cpu_pct": 50}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--clients", type=int, default=0, help="load processes (0: one per 5,000)")
    p.add_argument("--interval", type=int, default=15, help="heartbeat seconds")
    p.add_argument("--redis-db", type=int, default=13, help="scratch Redis db (flushed)")
    p.add_argument("--server-root", default=str(ROOT), help="the checkout `serve` runs from")
    return p.parse_args(argv)


def start_server(env: dict, logdir: Path, cwd: str, port: int | None = None):
    """One `manage.py serve` from `cwd`; returns (process, port) once it accepts."""
    import socket

    port = port or free_port()
    log = open(logdir / f"web-{port}.log", "ab")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--no-admin"],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"web process exited; see {logdir}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("web process did not start") from None
            time.sleep(0.1)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the phases ----------------------------------------------------------------------------
async def warm_up(url) -> None:
    """One refused agent: the server has imported its agent path before its RSS is read."""
    from websockets.asyncio.client import connect

    headers = {"Authorization": "Agent 00000000-0000-0000-0000-000000000000:x"}
    try:
        async with connect(url, additional_headers=headers) as ws:
            async for _ in ws:
                pass
    except Exception as exc:  # noqa: BLE001 (refused, as meant)
        print(f"  warm-up agent refused: {exc!r}"[:120], flush=True)


def make_nodes(count: int) -> list:
    from accounts import services
    from accounts.audit import Actor
    from core import tokens
    from nodes.models import Connection, Node, NodeState

    user = services.user_signup(
        username="benchagents", email="a@bench.test", password=secrets.token_urlsafe(16)
    )
    org = services.organization_create(actor=Actor(user=user), name="benchfleet")
    secret = secrets.token_urlsafe(24)
    digest = tokens.digest(secret)
    deploying = int(count * DEPLOYING_SHARE)
    nodes = [
        Node(
            organization=org,
            state=NodeState.DEPLOYING if n < deploying else NodeState.DEPLOYED,
            connection="" if n < deploying else Connection.DIRECT,
            hostname=f"bench-agent-{n}",
            agent_secret_digest=digest,
        )
        for n in range(count)
    ]
    Node.objects.bulk_create(nodes, batch_size=2000)
    return [(str(node.uuid), secret) for node in nodes]


def flusher(stop: threading.Event, flushes: list) -> None:
    """The liveness flush a worker's beat job runs, every DC_LIVENESS_FLUSH_SECONDS."""
    from django.conf import settings
    from django.db import connection

    try:
        from nodes.transitions.liveness import nodes_flush_liveness
    except ImportError:  # a checkout whose heartbeats write their rows themselves
        return
    while not stop.wait(settings.DC_LIVENESS_FLUSH_SECONDS):
        t0 = time.monotonic()
        try:
            written = nodes_flush_liveness()
        except Exception as exc:  # noqa: BLE001 (shown, and the next flush tries again)
            print(f"  flush failed: {exc!r}", flush=True)
            continue
        flushes.append((written, time.monotonic() - t0))
    connection.close()


def recorded_since(moment) -> int:
    from nodes.models import Node

    return Node.objects.filter(last_seen__gte=moment).count()


def probes_queued(r) -> int:
    """probe_node tasks waiting in the queue (nobody consumes it here)."""
    queued = (json.loads(m)["headers"]["task"] for m in r.lrange("celery", 0, -1))
    return sum(1 for task in queued if task == "nodes.tasks.probe_node")


def agents_phase(args, env, tmp, creds, redis_url):
    import redis
    from django.utils import timezone

    r = redis.Redis.from_url(redis_url)
    n = len(creds)
    clients_n = args.clients or max(1, -(-n // 5000))
    env = dict(env, DC_HEARTBEAT_INTERVAL=str(args.interval))
    server, port = start_server(env, Path(tmp), args.server_root)
    stop, flushes = threading.Event(), []
    threading.Thread(target=flusher, args=(stop, flushes), daemon=True).start()
    clients = None
    try:
        url = f"ws://127.0.0.1:{port}/ws/agent/"
        asyncio.run(warm_up(url))
        time.sleep(1)
        rss0 = rss_kib(server.pid)
        t0 = time.monotonic()
        clients = Clients(url, creds, clients_n, args.interval, tmp)
        up = clients.wait_up(n, 60 + n / 10)
        connect_s = time.monotonic() - t0
        print(f"  connected      {up}/{n} agents in {connect_s:.0f} s", flush=True)
        if up < n:
            print(f"  client errors  {[s.get('last_error') for s in clients.states]}", flush=True)
        time.sleep(args.interval)  # every agent's first heartbeats are in
        since = timezone.now()
        cpu0, w0 = cpu_seconds(server.pid), time.monotonic()
        time.sleep(args.interval + 1)
        cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - w0) * 100
        time.sleep(int(env.get("DC_LIVENESS_FLUSH_SECONDS", 3)) + 1)
        recorded = recorded_since(since)
        rss = rss_kib(server.pid)
        kib = (rss - rss0) / max(up, 1)
        initial = probes_queued(r)
        writes = [f for f in flushes if f[0]]
        flush_ms = max((s * 1000 for _, s in writes), default=None)
        # The storm: gates cleared, as in a fleet that has been up for minutes.
        r.delete("celery", *r.keys("*node-probe:*"))
        stop_servers([(server, port)])
        clients.wait_down(timeout=30)
        server, port = start_server(env, Path(tmp), args.server_root, port)
        t1 = time.monotonic()
        back = clients.wait_up(n, 60 + n / 10)
        storm_s = time.monotonic() - t1
        time.sleep(int(env.get("DC_LIVENESS_FLUSH_SECONDS", 3)) + 2)  # their first flush
        probes = probes_queued(r)
        return {
            "up": up, "connect_s": connect_s, "kib": kib, "rss_mib": rss / 1024, "cpu": cpu,
            "recorded": recorded, "flush_ms": flush_ms, "initial_probes": initial,
            "back": back, "storm_s": storm_s, "probes": probes,
        }  # fmt: skip
    finally:
        stop.set()
        if clients:
            clients.stop()
        stop_servers([(server, port)])


BARE_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve
async def handler(ws):
    async for _ in ws:
        pass
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), ping_interval=20):
        print("up", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


def bare_phase(args, tmp, count) -> float:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER, str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    clients = None
    try:
        server.stdout.readline()
        time.sleep(1)
        rss0 = rss_kib(server.pid)
        creds = [("", "")] * count
        clients = Clients(
            f"ws://127.0.0.1:{port}/", creds, args.clients or max(1, -(-count // 5000)), 0, tmp
        )
        up = clients.wait_up(count, 60 + count / 10)
        time.sleep(2)
        return (rss_kib(server.pid) - rss0) / max(up, 1)
    finally:
        if clients:
            clients.stop()
        server.kill()
        server.wait()


def main(argv=None) -> int:
    args = parse_args(argv)
    base_db, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not base_db.startswith("postgres") or not redis:
        print("bench/agents.py: needs DATABASE_URL (PostgreSQL) and REDIS_URL: run `make bench`")
        return 1
    db_url, drop = scratch_database(base_db)
    redis_url = f"{redis.rsplit('/', 1)[0]}/{args.redis_db}"
    import redis as redis_client

    redis_client.Redis.from_url(redis_url).flushdb()
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        env = dict(
            os.environ,
            DATABASE_URL=db_url,
            REDIS_URL=redis_url,
            DC_VAR_DIR=str(Path(tmp) / "var"),
            DC_LOG_LEVEL="WARNING",
            DC_DEBUG="0",
            DJANGO_SETTINGS_MODULE="dockercloud.settings",
        )
        os.environ.update(DATABASE_URL=db_url, REDIS_URL=redis_url, DC_VAR_DIR=env["DC_VAR_DIR"])
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockercloud.settings")
        try:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            import django

            django.setup()
            creds = make_nodes(args.agents)
            print(f"== agents: {args.agents} simulated agents on one web process "
                  f"({os.cpu_count()} CPUs, PostgreSQL + Redis)", flush=True)  # fmt: skip
            got = agents_phase(args, env, tmp, creds, redis_url)
            print("== agents: the bare websockets server, as many idle connections", flush=True)
            bare = bare_phase(args, tmp, args.agents)
        finally:
            drop()
            redis_client.Redis.from_url(redis_url).flushdb()
    report(args, got, bare)
    return 0


def report(args, got, bare) -> None:
    n = args.agents
    needing = int(n * DEPLOYING_SHARE)
    figures = {
        "agents_connected": got["up"],
        "kib_per_agent": round(got["kib"], 1),
        "agent_cpu_pct": round(got["cpu"], 1),
        "probes_on_reconnect": got["probes"],
    }
    ceilings = {"bare_ws_kib_per_conn": round(bare, 1)}
    print(
        f"  agents         {got['up']}/{n} connected in {got['connect_s']:.0f} s\n"
        f"  memory         {got['kib']:.0f} KiB per agent (target {TARGETS['kib_per_agent']}; "
        f"bare websockets {bare:.0f} KiB per connection, "
        f"{results.ratio(got['kib'], bare)}); server RSS {got['rss_mib']:.0f} MiB\n"
        f"  CPU            {got['cpu']:.0f}% of one core over one {args.interval} s heartbeat "
        f"interval (target {TARGETS['agent_cpu_pct']}%; {n / args.interval:.0f} heartbeats/s)\n"
        f"  heartbeats     {got['recorded']}/{n} nodes show a heartbeat after one interval; "
        f"slowest flush {got['flush_ms'] or 0:.0f} ms\n"
        f"  probes         {got['initial_probes']} queued on first connect; on a reconnect storm "
        f"({got['back']}/{n} back in {got['storm_s']:.0f} s): {got['probes']} queued "
        f"(target at most {needing}: the Deploying nodes)\n"
        "  (figures on a shared, busy machine: CPU seconds are the server's own)",
        flush=True,
    )
    results.record("agents", figures, ceilings)


if __name__ == "__main__":
    sys.exit(main())
