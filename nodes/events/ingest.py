"""Agents' events into the database and out to the pages, in batches.

Each agent connection has an `AgentEventStream`: on connect it sends `ack {seq}` with the
highest seq stored for the node (where the agent resumes), drops replayed items it has
already stored, and hands new rows to its process's `EventWriter`. The writer takes what every
connection has pending, inserts it in one transaction (bulk, idempotent by (node, seq)),
acknowledges each node's highest seq, and sends each organization's and node's group one
`events.batch` message per flush. While a flush runs the next batch gathers, so under load
batches grow instead of queues; past `MAX_PENDING_ROWS` the agents' sockets wait (their
events stay in their on-disk buffers).

One process's batch mixes every tenant's nodes, so one node's rows must never cost another
node its events. Items are validated one by one before they are handed over
(`agent_event_row`); should the database still refuse a batch, each node's rows are stored on
their own, and a node whose rows cannot be stored is refused (its socket closed with a reason,
nothing acknowledged: its agent keeps them) and counted. An agent is acknowledged only what
is stored.
"""

import asyncio
import logging
import weakref
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from realtime.emit import events_layer
from realtime.groups import group_for_node, group_for_org
from realtime.layer import send_group_messages
from realtime.payloads import AckFrame, events_batch_of_arrays

from .agent_rows import AgentRow, NodeContext, agent_event_rows, agent_events_store, payloads_json
from .selectors import node_last_seq

log = logging.getLogger(__name__)
MAX_FLUSH_ROWS = 2000
MAX_PENDING_ROWS = 20000
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
# One thread (one database connection) writes events for the whole process.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-writer")

# SQLSTATE classes of errors that pass (connection lost, deadlock or serialization, resources,
# operator intervention, system error); any other error is about the rows: retrying is useless.
TRANSIENT_SQLSTATES = ("08", "40", "53", "57", "58")


class Unstorable(Exception):
    """The database refused these rows for what they hold (not for a passing reason)."""


def _transient(exc: Exception) -> bool:
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)  # psycopg; SQLite has none
    return not sqlstate or sqlstate[:2] in TRANSIENT_SQLSTATES


@dataclass
class _Pending:
    rows: list[AgentRow]
    max_seq: int
    stream: "AgentEventStream"


class EventWriter:
    """Per event loop (per web process): batches every agent's events into few INSERTs."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._pending: deque[_Pending] = deque()
        self._rows = 0
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._fanout: asyncio.Queue = asyncio.Queue()
        self._tasks: set[asyncio.Task] = set()
        self.stored = 0
        self.flushes = 0
        self.refused = 0  # connections whose rows the database refused
        self._spawn(self._run())
        self._spawn(self._fanout_run())

    def _spawn(self, coro) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def submit(self, pending: _Pending) -> None:
        self._pending.append(pending)
        self._rows += len(pending.rows)
        self._wake.set()
        if self._rows >= MAX_PENDING_ROWS:
            self._room.clear()
            await self._room.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [p for p in self._take() if not p.stream.refused]
                if batch:
                    await self._flush(batch)

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        rows = 0
        while self._pending and (not taken or rows + len(self._pending[0].rows) <= MAX_FLUSH_ROWS):
            pending = self._pending.popleft()
            taken.append(pending)
            rows += len(pending.rows)
        self._rows -= rows
        if self._rows < MAX_PENDING_ROWS:
            self._room.set()
        return taken

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            self._after(batch, await self._store([row for p in batch for row in p.rows]))
            return
        except Unstorable as exc:
            first = exc
            log.warning(
                "a batch of events from %d connections failed (%s): storing each one's alone",
                len({id(p.stream) for p in batch}),
                exc,
            )
        by_stream: dict[int, list[_Pending]] = defaultdict(list)
        for pending in batch:
            by_stream[id(pending.stream)].append(pending)
        for pendings in by_stream.values():
            stream = pendings[0].stream
            try:
                if len(by_stream) == 1:
                    raise first  # the same rows again would fail the same way
                stored = await self._store([row for p in pendings for row in p.rows])
            except Unstorable as exc:
                self.refused += 1
                stream.refused = True  # its rows still queued are dropped, unacknowledged
                log.warning("node %s: events refused: %s", stream.ctx.node_uuid, exc)
                reason = f"events refused: the database cannot store them ({exc})"
                self._spawn(stream.refuse(reason))
                continue
            self._after(pendings, stored)

    async def _store(self, rows: list[AgentRow]) -> dict:
        """{uuid: id} of the new rows; retries while the database is away, raises Unstorable
        when it refuses the rows themselves."""
        attempt = 0
        while True:
            try:
                return await self._loop.run_in_executor(
                    _executor, lambda: agent_events_store(rows=rows)
                )
            except Exception as exc:  # noqa: BLE001 (sorted below: transient or the rows')
                if not _transient(exc):
                    # The class only: a database error's text may quote the rows.
                    raise Unstorable(type(exc).__name__) from exc
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                attempt += 1
                log.warning("storing %d events failed (%s): retrying in %ss", len(rows), exc, delay)
                await asyncio.sleep(delay)

    def _after(self, batch: list[_Pending], stored: dict) -> None:
        """Every row of `batch` is in the database (new ones in `stored`): acknowledge each
        connection its highest seq, and send the new rows to the pages."""
        self.flushes += 1
        by_group: dict[str, list[str]] = defaultdict(list)
        acks: dict[AgentEventStream, int] = {}
        for pending in batch:
            new = []
            for row in pending.rows:
                row.pk = stored.get(row.uuid)
                if row.pk is not None:  # else stored before (a replay raced another connection)
                    new.append(row)
            if new:
                ctx = pending.stream.ctx
                events = payloads_json(ctx, new)  # once, for both groups
                by_group[group_for_org(ctx.org_id)].append(events)
                by_group[group_for_node(ctx.org_id, ctx.node_id)].append(events)
            acks[pending.stream] = max(acks.get(pending.stream, 0), pending.max_seq)
        self.stored += len(stored)
        for stream, seq in acks.items():
            self._spawn(stream.ack(seq))
        if by_group:
            self._fanout.put_nowait(by_group)

    async def _fanout_run(self) -> None:
        """Sends what the flushes produced, merged per group: while one round of sends runs,
        the next flushes' events gather, so a busy process sends fewer, larger messages."""
        layer = events_layer()
        while True:
            merged: dict[str, list] = defaultdict(list)
            pending = [await self._fanout.get()]
            while not self._fanout.empty():
                pending.append(self._fanout.get_nowait())
            for by_group in pending:
                for group, events in by_group.items():
                    merged[group].extend(events)
            messages = [(group, events_batch_of_arrays(arrays)) for group, arrays in merged.items()]
            try:
                await send_group_messages(layer, messages)
            except Exception as exc:  # noqa: BLE001 (pages catch up from the database)
                log.warning("live events not sent: %r", exc)


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventWriter]" = (
    weakref.WeakKeyDictionary()
)


def event_writer() -> EventWriter:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = EventWriter()
    return writer


class AgentEventStream:
    """The event side of one agent connection (see the module docstring)."""

    def __init__(
        self,
        ctx: NodeContext,
        send_json: Callable[[AckFrame], Awaitable[None]],
        refuse: Callable[[str], Awaitable[None]],
    ):
        self.ctx = ctx
        self._send_json = send_json
        self._refuse = refuse
        self.last_seq = 0  # highest seq stored or handed to the writer
        self.acked = -1
        self.refused = False
        self.malformed = 0  # items dropped, on this connection

    async def start(self) -> None:
        self.last_seq = await database_sync_to_async(node_last_seq)(node_id=self.ctx.node_id)
        await self.ack(self.last_seq)

    async def receive(self, message: dict) -> None:
        items = message.get("events")
        if not isinstance(items, list) or self.refused:
            return
        rows, bad = agent_event_rows(self.ctx, items, timezone.now())
        # An agent's row always has its seq; those stored or handed over already are replays.
        rows = [row for row in rows if row.seq > self.last_seq]
        top = max((row.seq for row in rows), default=self.last_seq)
        if bad:
            self.malformed += bad
            log.warning("node %s sent %d malformed events", self.ctx.node_uuid, bad)
        if not rows:
            return  # replays of rows handed over already: their flush acknowledges them
        self.last_seq = top
        await event_writer().submit(_Pending(rows, top, self))

    async def ack(self, seq: int) -> None:
        if seq <= self.acked or self.refused:
            return
        self.acked = seq
        try:
            await self._send_json({"type": "ack", "seq": seq})
        except Exception as exc:  # noqa: BLE001 (the socket is gone: the agent replays later)
            log.debug("ack %d to node %s not sent: %r", seq, self.ctx.node_uuid, exc)

    async def refuse(self, reason: str) -> None:
        """Nothing more of this connection is stored or acknowledged; its socket closes."""
        self.refused = True
        try:
            await self._refuse(reason)
        except Exception as exc:  # noqa: BLE001 (the socket is gone already)
            log.debug("refusing node %s: %r", self.ctx.node_uuid, exc)
