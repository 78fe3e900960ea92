"""Fresh liveness: what heartbeats said, kept where every process sees it until a flush writes
it to the Node rows in one statement per batch (`transitions.liveness.nodes_flush_liveness`).

A heartbeat is the hottest write of the control plane (every agent, every
DC_HEARTBEAT_INTERVAL seconds) and no reader needs it in the row at once: the sweep asks the
deadlines kept here before it flips a node, and the API and the portal show the row, at most
DC_LIVENESS_FLUSH_SECONDS behind. Per node, keyed by its uuid (hex):

- its pending fields (last_seen, the deadline, metric, skew, containers, versions), JSON: a
  flush takes them all at once and writes them;
- its deadline alone, a timestamp, kept after the flush: a heartbeat that a flush has taken but
  not committed yet still keeps its node from the sweep.

With Redis (production) both are hashes every process shares; a process gathers its own
heartbeats in memory (a heartbeat costs the web process a dict assignment) and a thread of its
own pushes them in one pipeline every PUSH_SECONDS, well inside any heartbeat's grace.
Embedded (one process, no Redis) that memory is the store.
"""

import json
import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)
PUSH_SECONDS = 1.0


class MemoryStore:
    """One process's heartbeats (the embedded default, and each web process before a push)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending: dict[str, dict] = {}
        self.deadlines: dict[str, float] = {}

    def record(self, key: str, entry: dict, deadline: float) -> None:
        with self.lock:
            # Merged: a hello's entry and the heartbeat after it, both unflushed, keep both.
            before = self.pending.get(key)
            self.pending[key] = {**before, **entry} if before else entry
            self.deadlines[key] = deadline

    def swap(self) -> tuple[dict[str, dict], dict[str, float]]:
        with self.lock:
            pending, self.pending = self.pending, {}
            deadlines, self.deadlines = self.deadlines, {}
        return pending, deadlines

    def take(self) -> dict[str, dict]:
        with self.lock:
            pending, self.pending = self.pending, {}
        return pending

    def deadline_of(self, keys: list[str]) -> dict[str, float]:
        with self.lock:
            return {k: self.deadlines[k] for k in keys if k in self.deadlines}

    def forget(self, keys: list[str]) -> None:
        with self.lock:
            for key in keys:
                self.deadlines.pop(key, None)


class RedisStore:
    """The hashes every process shares; this process's heartbeats wait in `local` until the
    next push (its thread's, or the one a flush or a sweep does first)."""

    def __init__(self, prefix: str):
        from core.redis_sentinel import redis_client

        self.redis = redis_client()
        self.pending_key = f"{prefix}:liveness:pending"
        self.deadline_key = f"{prefix}:liveness:deadline"
        self.local = MemoryStore()
        self.pusher: threading.Thread | None = None
        self.start_lock = threading.Lock()

    def record(self, key: str, entry: dict, deadline: float) -> None:
        self.local.record(key, entry, deadline)
        if self.pusher is None:
            self._start_pusher()

    def _start_pusher(self) -> None:
        with self.start_lock:
            if self.pusher is None:
                self.pusher = threading.Thread(target=self._push_loop, name="liveness", daemon=True)
                self.pusher.start()

    def _push_loop(self) -> None:
        while True:
            time.sleep(PUSH_SECONDS)
            try:
                self.push()
            except Exception:  # noqa: BLE001 (Redis away: the heartbeats wait for the next push)
                log.warning("liveness: pushing heartbeats to Redis failed", exc_info=True)

    def push(self) -> None:
        pending, deadlines = self.local.swap()
        if not pending:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(self.pending_key, mapping={k: json.dumps(v) for k, v in pending.items()})
            pipe.hset(self.deadline_key, mapping=deadlines)
            pipe.execute()
        except Exception:
            # Back in memory for the next push, unless a newer heartbeat came meanwhile.
            with self.local.lock:
                for key, value in pending.items():
                    self.local.pending.setdefault(key, value)
                    self.local.deadlines.setdefault(key, deadlines[key])
            raise

    def take(self) -> dict[str, dict]:
        self.push()
        pipe = self.redis.pipeline(transaction=True)  # no heartbeat lost between read and delete
        pipe.hgetall(self.pending_key)
        pipe.delete(self.pending_key)
        taken, _ = pipe.execute()
        return {key.decode(): json.loads(value) for key, value in taken.items()}

    def deadline_of(self, keys: list[str]) -> dict[str, float]:
        self.push()
        if not keys:
            return {}
        values: list = self.redis.hmget(self.deadline_key, keys)  # type: ignore[assignment]  # sync client: a list
        return {k: float(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def forget(self, keys: list[str]) -> None:
        if keys:
            self.redis.hdel(self.deadline_key, *keys)


_store: MemoryStore | RedisStore | None = None
_store_lock = threading.Lock()


def store() -> MemoryStore | RedisStore:
    """This process's store (made on first use, from the settings)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = (
                    RedisStore(settings.DC_CHANNEL_PREFIX) if settings.REDIS_URL else MemoryStore()
                )
    return _store
