"""bench/events.py's ceilings (the same work on bare stand-ins, in the same run), its targets,
and its summary: printed, and recorded with bench/results.py."""

import os
import statistics
import subprocess
import time

from bench import results

EVENT_BYTES = 350  # one event's JSON payload, about


def redis_publish_ceiling(redis_url: str) -> float | None:
    """PUBLISH/s of an event-sized message (redis-benchmark, pipelined as the layer does);
    a redis-py pipeline where redis-benchmark is not installed."""
    payload = "x" * EVENT_BYTES
    try:
        out = subprocess.run(
            ["redis-benchmark", "-u", redis_url, "-n", "100000", "-c", "4", "-P", "16", "--csv",
             "PUBLISH", "dc-bench-ceiling", payload],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return float(out.stdout.strip().splitlines()[-1].split(",")[1].strip('"'))
    except (OSError, IndexError, ValueError, subprocess.TimeoutExpired):
        pass
    import redis as redis_client

    client = redis_client.Redis.from_url(redis_url)
    start, count = time.monotonic(), 0
    while time.monotonic() - start < 2:
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.publish("dc-bench-ceiling", payload)
        pipe.execute()
        count += 100
    return count / (time.monotonic() - start)


def insert_ceiling(node_uuid: str) -> float:
    """Rows/s of the ingest path's INSERT statement, batches of 2,000 built ahead and run
    directly on PostgreSQL from one connection (no web process, no websocket)."""
    from django.db import connection
    from django.utils import timezone

    from nodes.events.agent_rows import NodeContext, agent_event_row, agent_events_store
    from nodes.models import Node

    node = Node.objects.select_related("organization").get(uuid=node_uuid)
    ctx, now = NodeContext.of(node), timezone.now()
    batches = [
        [
            agent_event_row(
                ctx,
                {
                    "seq": seq,
                    "type": "container",
                    "action": "start",
                    "actor": {"id": f"{seq:064x}", "attributes": {"t": "1.0"}},
                    "time_nano": time.time_ns(),
                },
                now,
            )  # fmt: skip
            for seq in range(1 + b * 2000, 1 + (b + 1) * 2000)
        ]
        for b in range(5)
    ]
    start = time.monotonic()
    for batch in batches:
        agent_events_store(rows=batch)
    elapsed = time.monotonic() - start
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE nodes_dockerevent")
    return sum(map(len, batches)) / elapsed


TARGETS = {
    1: {"events_per_s": 10000, "event_latency_p99_ms": 250, "event_delivery": 1.0},
    2: {"events_per_s": 20000, "event_latency_p99_ms": 250, "event_delivery": 1.0},
}


def report(figures: dict[int, dict], ceilings: dict) -> None:
    """Each figure beside its target and, where there is one, the ceiling of the same kind."""
    print("summary (figures taken on this machine as it is: shared machines skew latencies)")
    for processes, got in figures.items():
        target = TARGETS.get(processes, {})
        for name, value in got.items():
            ceiling = ceilings.get("redis_publish_per_s") if name == "events_per_s" else None
            beside = f"target {target[name]}" if name in target else "no target"
            extra = f", {results.ratio(value, ceiling)} of Redis PUBLISH/s" if ceiling else ""
            print(f"  {processes} web: {name:24} {value!s:>9}  ({beside}{extra})", flush=True)
    print(
        f"  ceilings: Redis PUBLISH {ceilings.get('redis_publish_per_s') or 0:,.0f}/s of "
        f"{EVENT_BYTES}-byte messages; the ingest INSERT alone "
        f"{ceilings.get('event_insert_rows_per_s') or 0:,.0f} rows/s",
        flush=True,
    )


def record(figures: dict[int, dict], ceilings: dict) -> None:
    flat = {}
    for processes, got in figures.items():
        suffix = "" if processes == 1 else f"_{processes}proc"
        flat.update({f"{name}{suffix}": value for name, value in got.items()})
    results.record("events", flat, ceilings)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def phase_figures(args, processes: int, result: dict, cpu: list[float], own: float) -> dict:
    """Print one phase's figures; return those recorded."""
    lat = result["latencies"]
    print(
        f"  offered        {args.rate * processes} events/s from {args.agents} agents "
        f"({args.tick:.0f} ms batches), {args.browsers} browsers in {args.orgs} orgs\n"
        f"  ingested       {result['ingested_per_s']:.0f} events/s (acknowledged, "
        f"{args.duration:.0f} s window); backlog at the end {result['backlog']}; "
        f"agent sockets dropped {result['dropped']}\n"
        f"  database       {result['rows_per_s']:.0f} rows/s inserted in the window\n"
        f"  latency        p50 {percentile(lat, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(lat, 0.99) * 1000:.0f} ms, max {max(lat, default=0) * 1000:.0f} ms "
        f"(agent send -> browser receive, {len(lat)} deliveries)\n"
        f"  delivery       {result['delivery'] * 100:.2f}% of the window's events to every "
        f"subscribed browser\n"
        f"  CPU            web {', '.join(f'{c * 100:.0f}%' for c in cpu)} "
        f"({result['cpu_us_per_event']:.0f} us of web CPU per event), load generator "
        f"{own * 100:.0f}% of a core; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if lat:
        print(f"  latency mean   {statistics.mean(lat) * 1000:.0f} ms", flush=True)
    return {
        "events_per_s": round(result["ingested_per_s"]),
        "event_latency_p99_ms": round(percentile(lat, 0.99) * 1000) if lat else None,
        "event_delivery": round(result["delivery"], 4),
        "event_cpu_us_per_event": round(result["cpu_us_per_event"], 1),
    }
