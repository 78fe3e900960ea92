"""A node's load, memory and disk over the last hour, from its heartbeats: at most one sample a
minute, kept in the cache (Redis in production, local memory in the embedded default) and
never in the database, so a heartbeat costs at most one cache write a minute.

One key per node per minute, written with `add`: the minute's first heartbeat is kept and the
others in that minute cost no write; each key expires by itself a little after the hour.
"""

import math
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

MINUTES = 60
KEEP_SECONDS = MINUTES * 60 + 300  # the hour shown, and the minutes a slow clock may read late
MAX_VALUE = 1e15  # MB, GB or a load average: far past any host (the agent's word is bounded)
# The charts: width and height of the drawing, in its own units (the page scales it).
WIDTH, HEIGHT = 300, 60


def _key(node_id: int, minute: int) -> str:
    return f"nodes:metric:{node_id}:{minute}"


def _bounded(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value <= MAX_VALUE:
        return None
    return round(float(value), 3)


def _part(metric: dict, key: str, names: tuple[str, str]) -> tuple[float | None, float | None]:
    given = metric.get(key)
    if not isinstance(given, dict):
        return None, None
    return _bounded(given.get(names[0])), _bounded(given.get(names[1]))


def _sample(metric: dict) -> tuple | None:
    """(load1, memory used MB, memory total MB, disk used GB, disk total GB): numbers or None.
    None when the heartbeat carried none of them."""
    load = metric.get("load")
    load1 = _bounded(load[0]) if isinstance(load, list) and load else None
    mem_total, mem_free = _part(metric, "memory", ("total_mb", "available_mb"))
    disk_total, disk_free = _part(metric, "disk", ("total_gb", "free_gb"))

    def used(total, free):
        return None if total is None or free is None else round(max(total - free, 0.0), 3)

    sample = (load1, used(mem_total, mem_free), mem_total, used(disk_total, disk_free), disk_total)
    return None if all(v is None for v in sample) else sample


# node id -> the minute this process last kept a sample for: the minute's other heartbeats
# that reach this process skip the cache's round trip too. Bounded; any process may keep the
# minute's sample, `add` keeps the first.
_kept: dict[int, int] = {}
MAX_KEPT = 100_000


def metric_record(*, node_id: int, metric: dict, at: datetime) -> None:
    """Keep the heartbeat's numbers as the node's sample of this minute (if it has none yet)."""
    minute = int(at.timestamp() // 60)
    if _kept.get(node_id) == minute or not isinstance(metric, dict):
        return
    sample = _sample(metric)
    if sample is not None:
        cache.add(_key(node_id, minute), sample, timeout=KEEP_SECONDS)
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[node_id] = minute


def metric_history(*, node_id: int, now: datetime | None = None) -> list[dict]:
    """The node's samples of the last hour, oldest first: `{"minute", "load", "memory_used",
    "memory_total", "disk_used", "disk_total"}` (minutes before `now`, 0 the current one)."""
    current = int((now or timezone.now()).timestamp() // 60)
    keys = {_key(node_id, current - ago): ago for ago in range(MINUTES)}
    found = cache.get_many(list(keys))
    history = []
    for key, ago in sorted(keys.items(), key=lambda item: -item[1]):
        sample = found.get(key)
        if not isinstance(sample, list | tuple) or len(sample) != 5:
            continue
        load, mem_used, mem_total, disk_used, disk_total = sample
        history.append(
            {
                "minute": ago,
                "load": load,
                "memory_used": mem_used,
                "memory_total": mem_total,
                "disk_used": disk_used,
                "disk_total": disk_total,
            }
        )
    return history


def _chart(history: list[dict], key: str, total_key: str | None, title: str, unit: str) -> dict:
    """One chart: its polyline over the hour (x: minutes ago, right is now), its scale and
    its last value."""
    points = [(h["minute"], h[key]) for h in history if h[key] is not None]
    totals = [h[total_key] for h in history if total_key and h[total_key] is not None]
    top = max(totals) if totals else max((v for _, v in points), default=0.0)
    top = top if top > 0 else 1.0
    xy = [
        (round(WIDTH - ago * WIDTH / (MINUTES - 1), 1), round(HEIGHT - min(v / top, 1) * HEIGHT, 1))
        for ago, v in points
    ]
    return {
        "title": title,
        "unit": unit,
        "points": " ".join(f"{x},{y}" for x, y in xy),
        "end": xy[-1] if xy else None,  # a dot there: one sample is a point, not a line
        "last": points[-1][1] if points else None,
        "top": top,
        "samples": len(points),
    }


def metric_charts(history: list[dict]) -> list[dict]:
    """The node page's three charts (drawn as inline SVG by templates/nodes/_metrics.html)."""
    return [
        _chart(history, "load", None, "CPU load (1 min)", ""),
        _chart(history, "memory_used", "memory_total", "Memory used", "MB"),
        _chart(history, "disk_used", "disk_total", "Disk used (Docker's)", "GB"),
    ]
