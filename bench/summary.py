"""The table `make bench` ends with: every figure of bench/results/latest.json beside its
ceiling (measured in the same run), the ratio of the two, and the target it is held to.

    .venv/bin/python bench/summary.py [--since 2026-01-01T00:00:00Z] [--file PATH]

`--since` marks the phases recorded before that moment (an earlier run's: the file is merged,
so a phase this run skipped keeps its last figures). Reads the file only; measures nothing.
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402

PHASES = ("agents", "events", "fleet_api", "deploys")  # the order scripts/bench.sh runs them in
# figure -> (its ceiling in the same run, target as (comparison, number) or a note)
FIGURES: dict[str, tuple[str | None, tuple[str, float] | str | None]] = {
    "agents_connected": (None, None),
    "kib_per_agent": ("bare_ws_kib_per_conn", ("<=", 100)),
    "agent_cpu_pct": (None, ("<=", 50)),
    "probes_on_reconnect": (None, "the Deploying nodes"),
    "events_per_s": ("redis_publish_per_s", (">=", 10_000)),
    "events_per_s_2proc": ("redis_publish_per_s", (">=", 20_000)),
    "event_latency_p99_ms": (None, ("<=", 250)),
    "event_latency_p99_ms_2proc": (None, ("<=", 250)),
    "event_delivery": (None, (">=", 1.0)),
    "event_delivery_2proc": (None, (">=", 1.0)),
    "node_list_p95_ms": ("raw_sql_p95_ms", ("<=", 15)),
    "byoh_seconds": ("byoh_dockerd_seconds", "issue measured 3 s"),
}
CLUSTER = re.compile(r"^cluster(\d+)_seconds$")


def describe(figure: str) -> tuple[str | None, tuple[str, float] | str | None]:
    if figure in FIGURES:
        return FIGURES[figure]
    cluster = CLUSTER.match(figure)
    if cluster:
        return f"cluster{cluster.group(1)}_hosts_dockerd_seconds", None
    return None, None


def verdict(value, target) -> str:
    if not isinstance(target, tuple):
        return target or "-"
    op, bound = target
    text = f"{op} {bound:g}"
    if value is None:
        return f"{text} (not measured)"
    met = value <= bound if op == "<=" else value >= bound
    return f"{text} {'met' if met else 'MISSED'}"


def number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def rows(data: dict, since: str | None) -> list[tuple[str, ...]]:
    phases = data.get("phases", {})
    ordered = [p for p in PHASES if p in phases] + sorted(set(phases) - set(PHASES))
    out = []
    for phase in ordered:
        entry = phases[phase]
        label = phase if not since or entry.get("at", "") >= since else f"{phase} (earlier run)"
        ceilings = entry.get("ceilings", {})
        for figure, value in entry.get("figures", {}).items():
            ceiling_name, target = describe(figure)
            ceiling = ceilings.get(ceiling_name) if ceiling_name else None
            out.append(
                (
                    label,
                    figure,
                    number(value),
                    ceiling_name or "-",
                    number(ceiling),
                    results.ratio(value, ceiling) if ceiling_name else "",
                    verdict(value, target),
                )
            )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", help="UTC time this run started, as results.py writes it")
    parser.add_argument("--file", type=Path, default=results.RESULTS)
    args = parser.parse_args(argv)
    results.RESULTS = args.file
    data = results.load()
    if not data.get("phases"):
        print(f"summary: no figures in {args.file}")
        return 0
    machine = data.get("machine", {})
    print(
        f"summary of {args.file} (commit {data.get('commit')}, {machine.get('cpus')} CPUs; "
        "a busy machine stretches latencies and seconds, CPU seconds are fair)"
    )
    header = ("phase", "figure", "value", "ceiling", "value", "ratio", "target")
    table = [header, *rows(data, args.since)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  " + "  ".join(cells).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
