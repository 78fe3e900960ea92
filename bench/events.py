"""Live events under load: simulated agents push events while simulated browsers watch.

    source /tmp/dcenv.sh   # or any DATABASE_URL (PostgreSQL) + REDIS_URL
    .venv/bin/python bench/events.py [--rate 10000] [--agents 20] [--orgs 4] [--browsers 20]
                                     [--duration 15] [--warmup 4] [--processes 1 2]

For each web process count (a phase) it offers `--rate` events/s per web process (the targets:
10,000/s on one process with p99 under 250 ms and every event delivered, 20,000/s on two) and
starts real `manage.py serve` processes on a scratch database
(created and dropped here) and a scratch Redis database (`--redis-db`, flushed), connects the
agents (`/ws/agent/`, batches every `--tick` ms, as the agent ships what is pending) and the
browsers (`/ws/events/`, logged-in sessions, one organization each) round-robin across the
processes, and prints: events/s ingested (acknowledged), database rows/s, end-to-end latency
p50/p99/max from the agent's send to the browser's receive, delivery (browser events received
/ expected), and CPU of the web processes (CPU microseconds per ingested event: the figure
that stays fair on a shared machine, where latencies do not). Beside them, the ceilings
measured in the same run: Redis PUBLISH/s of an event-sized message (`redis-benchmark`) and
rows/s of the ingest path's own INSERT statement run directly on PostgreSQL. The figures go
to bench/results/latest.json (`bench/results.py`). Figures, not a pass/fail test.
"""

import argparse
import asyncio
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import event_figures as figures  # noqa: E402 (the project's root on the path first)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=int, default=10000, help="events/s offered per web process")
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--orgs", type=int, default=4)
    p.add_argument("--browsers", type=int, default=20)
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--tick", type=float, default=20.0, help="agent send interval, ms")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--redis-db", type=int, default=14, help="scratch Redis db (flushed)")
    return p.parse_args(argv)


# --- scratch database and data ----------------------------------------------------------------
def scratch_database(base_url: str) -> tuple[str, callable]:
    import psycopg

    name = f"dc_bench_{os.getpid()}"
    admin = psycopg.connect(base_url, autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(base_url)
    url = urlunsplit(parts._replace(path=f"/{name}"))

    def drop():
        from django.db import connections

        connections.close_all()
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return url, drop


@dataclass
class Fleet:
    agents: list = field(default_factory=list)  # (org index, node uuid, secret)
    cookies: list = field(default_factory=list)  # (org index, org name, session cookie)


def make_fleet(args) -> Fleet:
    from django.test import Client

    from accounts import services
    from accounts.audit import Actor
    from core import tokens
    from nodes.models import Node, NodeState

    fleet = Fleet()
    orgs, owners = [], []
    for i in range(args.orgs):
        user = services.user_signup(
            username=f"bench{i}", email=f"b{i}@bench.test", password=secrets.token_urlsafe(16)
        )
        owners.append(user)
        orgs.append(services.organization_create(actor=Actor(user=user), name=f"benchorg{i}"))
    for n in range(args.agents):
        secret = secrets.token_urlsafe(24)
        node = Node.objects.create(
            organization=orgs[n % args.orgs],
            state=NodeState.DEPLOYED,
            hostname=f"bench-node-{n}",
            agent_secret_digest=tokens.digest(secret),
        )
        fleet.agents.append((n % args.orgs, str(node.uuid), secret))
    for b in range(args.browsers):
        index = b % args.orgs
        client = Client()
        client.force_login(owners[index])
        fleet.cookies.append((index, orgs[index].name, client.cookies["sessionid"].value))
    return fleet


# --- web processes ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_servers(count: int, env: dict, logdir: Path) -> list[tuple[subprocess.Popen, int]]:
    servers = []
    for i in range(count):
        port = free_port()
        log = open(logdir / f"web-{i}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--no-admin"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        servers.append((proc, port))
    deadline = time.monotonic() + 60
    for proc, port in servers:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"web process exited; see {logdir}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("web process did not start") from None
                time.sleep(0.1)
    return servers


def stop_servers(servers) -> None:
    for proc, _ in servers:
        proc.send_signal(signal.SIGTERM)
    for proc, _ in servers:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- load ---------------------------------------------------------------------------------
@dataclass
class Counters:
    sent: int = 0
    acked: int = 0
    latencies: list = field(default_factory=list)  # of events sent inside the window
    received: int = 0  # browser events inside the window
    expected: int = 0  # browser events that should have arrived for the window


class Load:
    def __init__(self, args, fleet: Fleet, ports: list[int], pids: list[int]):
        self.args = args
        self.rate = args.rate * len(ports)  # offered, all agents together
        self.pids = pids
        self.fleet = fleet
        self.ports = itertools.cycle(ports)
        self.stop = asyncio.Event()
        self.window = (float("inf"), float("inf"))
        self.c = Counters()
        self.sent_in_window = [0] * args.orgs  # per org
        self.acked_by_agent: dict[int, int] = {}
        self.dropped = 0  # agent sockets the server closed

    def in_window(self, t: float) -> bool:
        return self.window[0] <= t < self.window[1]

    async def agent(self, index: int, org: int, node_uuid: str, secret: str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._agent(index, org, node_uuid, secret)
        except ConnectionClosed:  # the server closed it (overloaded): counted, not retried
            self.dropped += 1

    async def _agent(self, index: int, org: int, node_uuid: str, secret: str) -> None:
        from websockets.asyncio.client import connect

        url = f"ws://127.0.0.1:{next(self.ports)}/ws/agent/"
        headers = {"Authorization": f"Agent {node_uuid}:{secret}"}
        # As the stock agent (websocket-client, which negotiates no compression).
        async with connect(url, additional_headers=headers, max_size=None, compression=None) as ws:
            seq = 0
            while True:  # config, then the first ack: where to resume
                frame = json.loads(await ws.recv())
                if frame["type"] == "ack":
                    seq = frame["seq"]
                    break
            reader = asyncio.ensure_future(self._acks(ws, index))
            rate = self.rate / self.args.agents
            tick = self.args.tick / 1000
            start, made = time.monotonic(), 0
            while not self.stop.is_set():
                due = int((time.monotonic() - start) * rate) - made
                if due > 0:
                    now = time.time()
                    events = []
                    for _ in range(due):
                        seq += 1
                        events.append(
                            {
                                "seq": seq,
                                "type": "container",
                                "action": "start",
                                "actor": {"id": f"{seq:064x}", "attributes": {"t": repr(now)}},
                                "scope": "local",
                                "time_nano": int(now * 1e9),
                            }
                        )
                    # At most 500 a message, as the agent ships them.
                    for first in range(0, len(events), 500):
                        chunk = events[first : first + 500]
                        await ws.send(json.dumps({"type": "event", "events": chunk}))
                    made += due
                    self.c.sent += due
                    if self.in_window(now):
                        self.sent_in_window[org] += due
                await asyncio.sleep(tick)
            await asyncio.sleep(2)  # let the last acks come
            reader.cancel()

    async def _acks(self, ws, index: int) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in ws:
                frame = json.loads(message)
                if frame.get("type") == "ack":
                    before = self.acked_by_agent.get(index, 0)
                    self.acked_by_agent[index] = max(before, frame["seq"])
        except ConnectionClosed:
            pass  # counted by its agent

    async def browser(self, org: int, org_name: str, cookie: str) -> None:
        from websockets.asyncio.client import connect

        port = next(self.ports)
        url = f"ws://127.0.0.1:{port}/ws/events/?org={org_name}&recent=0"
        headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"}
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            async for message in ws:
                now = time.time()
                frame = json.loads(message)
                if frame["type"] != "events":
                    continue
                for event in frame["events"]:
                    sent = float(event["attributes"].get("t", 0))
                    if self.in_window(sent):
                        self.c.received += 1
                        self.c.latencies.append(now - sent)
                if self.stop.is_set() and now > self.window[1] + 2:
                    return

    async def run(self) -> dict:
        browsers = [asyncio.ensure_future(self.browser(*c)) for c in self.fleet.cookies]
        await asyncio.sleep(1)  # subscribed before the first event
        agents = [asyncio.ensure_future(self.agent(i, *a)) for i, a in enumerate(self.fleet.agents)]
        begin = time.time() + self.args.warmup
        self.window = (begin, begin + self.args.duration)
        await asyncio.sleep(self.args.warmup)
        acked0, rows0 = sum(self.acked_by_agent.values()), await asyncio.to_thread(count_rows)
        t0, cpu0 = time.monotonic(), [cpu_seconds(pid) for pid in self.pids]
        await asyncio.sleep(self.args.duration)
        acked1, rows1 = sum(self.acked_by_agent.values()), await asyncio.to_thread(count_rows)
        elapsed = time.monotonic() - t0
        web_cpu = sum(cpu_seconds(pid) for pid in self.pids) - sum(cpu0)
        self.stop.set()
        await asyncio.wait(agents, timeout=10)
        await asyncio.sleep(1)
        for task in browsers:
            task.cancel()
        browsers_per_org = [0] * self.args.orgs
        for org, _, _ in self.fleet.cookies:
            browsers_per_org[org] += 1
        expected = sum(n * b for n, b in zip(self.sent_in_window, browsers_per_org, strict=True))
        return {
            "ingested_per_s": (acked1 - acked0) / elapsed,
            "rows_per_s": (rows1 - rows0) / elapsed,
            "sent": self.c.sent,
            "backlog": self.c.sent - sum(self.acked_by_agent.values()),
            "latencies": self.c.latencies,
            "delivery": self.c.received / expected if expected else 0.0,
            "cpu_us_per_event": web_cpu / max(acked1 - acked0, 1) * 1e6,
            "dropped": self.dropped,
        }


def count_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM nodes_dockerevent")
        return cursor.fetchone()[0]


def run_once(args, fleet: Fleet, env: dict, processes: int, logdir: Path) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE nodes_dockerevent")
    servers = start_servers(processes, env, logdir)
    try:
        pids = [proc.pid for proc, _ in servers]
        cpu0, t0 = [cpu_seconds(pid) for pid in pids], time.monotonic()
        own0 = cpu_seconds(os.getpid())
        result = asyncio.run(Load(args, fleet, [port for _, port in servers], pids).run())
        elapsed = time.monotonic() - t0
        own = (cpu_seconds(os.getpid()) - own0) / elapsed
        cpu = [(cpu_seconds(pid) - c) / elapsed for pid, c in zip(pids, cpu0, strict=True)]
    finally:
        stop_servers(servers)
    return figures.phase_figures(args, processes, result, cpu, own)


def main(argv=None) -> int:
    args = parse_args(argv)
    base_db, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not base_db.startswith("postgres") or not redis:
        print("bench/events.py: needs DATABASE_URL (PostgreSQL) and REDIS_URL: run `make bench`")
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
            DC_DEBUG="0",  # as in production: no query log
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
            fleet = make_fleet(args)
            print(f"bench/events.py on {os.cpu_count()} CPUs, PostgreSQL + Redis", flush=True)
            print("phase ceilings: Redis PUBLISH and the INSERT alone ...", flush=True)
            ceilings = {
                "redis_publish_per_s": round(figures.redis_publish_ceiling(redis_url) or 0) or None,
                "event_insert_rows_per_s": round(figures.insert_ceiling(fleet.agents[0][1])),
            }
            figures_by_count: dict[int, dict] = {}
            for number, processes in enumerate(args.processes, 1):
                print(
                    f"phase {number}/{len(args.processes)}: {processes} web process"
                    f"{'es' if processes > 1 else ''}, {args.rate * processes} events/s offered "
                    f"({args.warmup:.0f} s warm-up, {args.duration:.0f} s measured) ...",
                    flush=True,
                )
                figures_by_count[processes] = run_once(args, fleet, env, processes, Path(tmp))
            figures.report(figures_by_count, ceilings)
            figures.record(figures_by_count, ceilings)
        finally:
            drop()
            redis_client.Redis.from_url(redis_url).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
