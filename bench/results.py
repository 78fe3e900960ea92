"""The figures of one `make bench` run, kept in bench/results/latest.json.

Each benchmark calls `record(phase, figures, ceilings)` when its phase ends; the file is merged,
not overwritten, so one benchmark run alone updates only its own figures. A figure is a number
(or None when the phase could not measure it); a ceiling is the same kind of figure measured in
the same run on a bare stand-in (a websockets server, redis-benchmark, raw SQL), so that a reader
can tell the product's cost from the machine's.
"""

import json
import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("DC_BENCH_RESULTS", ROOT / "bench" / "results" / "latest.json"))


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def load() -> dict:
    try:
        return json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}


def record(phase: str, figures: dict, ceilings: dict | None = None) -> None:
    """Merge one phase's figures (top level, as the README quotes them) and its ceilings."""
    data = load()
    data.update(figures)
    data.setdefault("ceilings", {}).update(ceilings or {})
    data.setdefault("phases", {})[phase] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": figures,
        "ceilings": ceilings or {},
    }
    data["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    data["commit"] = _commit()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def ratio(figure: float | None, ceiling: float | None) -> str:
    """`x1.8` of the ceiling, for the printed line."""
    if not figure or not ceiling:
        return "x?"
    return f"x{figure / ceiling:.1f}"
