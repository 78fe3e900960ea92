"""One web process stores every tenant's agent events in shared batches: what one node sends
must never cost another node its events, nor get them acknowledged unstored."""

import asyncio
import threading

import pytest
from django.db import connection
from django.utils import timezone

from nodes.events import ingest
from nodes.events.services import NodeContext, agent_event_row
from nodes.models import DockerEvent, Node

from .conftest import receive_until, register_node, run
from .test_ingest import connect_agent, item, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]

POISONS = {
    "seq past 2^63": {"seq": 2**63},
    "seq past 2^64": {"seq": 2**64 + 5},
    "NUL in the action": {"action": "st\x00art"},
    "NUL in an attribute": {"actor": {"id": "c1", "attributes": {"name": "a\x00b"}}},
    "NUL in an attribute name": {"actor": {"id": "c1", "attributes": {"n\x00": "x"}}},
    "unpaired surrogate": {"actor": {"id": "c\ud800", "attributes": {}}},
}


class HeldWriter:
    """Keeps the process's event writer inside a flush (its database thread busy, as under
    load) until released, so that what agents send meanwhile is stored in one shared batch.
    The real store runs once released."""

    def __init__(self, monkeypatch):
        self.started = threading.Event()
        self.released = threading.Event()
        real = ingest.agent_events_store

        def store(*, rows):
            self.started.set()
            self.released.wait(10)
            return real(rows=rows)

        monkeypatch.setattr(ingest, "agent_events_store", store)

    async def gather(self, *nodes: Node, timeout: float = 5) -> None:
        """Wait until rows of every one of `nodes` wait for the next batch."""
        writer = ingest.event_writer()
        deadline = asyncio.get_running_loop().time() + timeout
        wanted = {node.pk for node in nodes}
        while not wanted <= {row.node_id for p in writer._pending for row in p.rows}:
            assert asyncio.get_running_loop().time() < deadline, "the batch did not gather"
            await asyncio.sleep(0.01)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def held(monkeypatch):
    writer = HeldWriter(monkeypatch)
    yield writer
    writer.release()


async def share_a_batch(held, victim, victim_node, attacker, attacker_node, attack: dict):
    """The victim's events and the attacker's `attack` message in one batch."""
    await victim.send_json_to({"type": "event", "events": [item(1)]})
    assert await asyncio.to_thread(held.started.wait, 5)  # the writer is in that flush
    await attacker.send_json_to(attack)
    await victim.send_json_to({"type": "event", "events": [item(2), item(3)]})
    await held.gather(victim_node, attacker_node)
    held.release()


@pytest.mark.smoke
@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
def test_an_unstorable_event_of_one_tenant_costs_another_tenant_nothing(
    owner, outsider, held, poison
):
    victim_node, victim_secret = register_node(owner, "web-1")
    attacker_node, attacker_secret = register_node(outsider, "evil-1")
    bad = item(1) | poison

    async def scenario():
        victim = await connect_agent(victim_node, victim_secret)
        attacker = await connect_agent(attacker_node, attacker_secret)
        assert await victim.receive_json_from() == {"type": "ack", "seq": 0}
        assert await attacker.receive_json_from() == {"type": "ack", "seq": 0}
        attack = {"type": "event", "events": [bad, item(7)]}
        await share_a_batch(held, victim, victim_node, attacker, attacker_node, attack)
        await receive_until(victim, lambda f: f == {"type": "ack", "seq": 3})
        # Acknowledged means stored: the agent deletes what the server acknowledged.
        assert await stored(victim_node) == [(s, "start", f"c{s:03d}") for s in (1, 2, 3)]
        # The attacker's valid event is stored; the bad item alone is dropped.
        await receive_until(attacker, lambda f: f == {"type": "ack", "seq": 7})
        assert [seq for seq, _, _ in await stored(attacker_node)] == [7]
        await victim.disconnect()
        await attacker.disconnect()

    run(scenario)


@pytest.fixture
def refusing_database(transactional_db):
    """The database refuses every event row of one node (`refuse(node, sqlstate)`), as it would
    rows the edge checks could not foresee (a constraint, a trigger, a limit of another engine).
    PostgreSQL answers with `sqlstate` (SQLite's triggers have no codes)."""
    table = DockerEvent._meta.db_table
    postgres = connection.vendor == "postgresql"

    def refuse(node: Node, sqlstate: str) -> None:
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute(
                    "CREATE FUNCTION dc_test_refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.node_id = {int(node.pk)} THEN "
                    f"RAISE EXCEPTION 'refused' USING ERRCODE = '{sqlstate}'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    f"CREATE TRIGGER dc_test_refuse BEFORE INSERT ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION dc_test_refuse()"
                )
            else:
                cursor.execute(
                    f"CREATE TRIGGER dc_test_refuse BEFORE INSERT ON {table} "
                    f"WHEN NEW.node_id = {int(node.pk)} BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )

    yield refuse
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(f"DROP TRIGGER IF EXISTS dc_test_refuse ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS dc_test_refuse()")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS dc_test_refuse")


# A raised exception (an InternalError), and a "program limit exceeded" (an OperationalError
# to Django, like a lost connection, yet about the rows: retrying it would stall every tenant).
REFUSALS = {"raised": "P0001", "a limit": "54000"}


@pytest.mark.smoke
@pytest.mark.parametrize("sqlstate", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_batch_the_database_refuses_is_stored_node_by_node(
    owner, outsider, held, refusing_database, sqlstate
):
    victim_node, victim_secret = register_node(owner, "web-1")
    attacker_node, attacker_secret = register_node(outsider, "evil-1")
    refusing_database(attacker_node, sqlstate)

    async def scenario():
        victim = await connect_agent(victim_node, victim_secret)
        attacker = await connect_agent(attacker_node, attacker_secret)
        await victim.receive_json_from()
        await attacker.receive_json_from()
        attack = {"type": "event", "events": [item(1), item(2)]}
        await share_a_batch(held, victim, victim_node, attacker, attacker_node, attack)
        await receive_until(victim, lambda f: f == {"type": "ack", "seq": 3})
        assert await stored(victim_node) == [(s, "start", f"c{s:03d}") for s in (1, 2, 3)]
        # The node whose rows cannot be stored is told why and closed, never acknowledged:
        # its agent keeps its events.
        refused, before = await receive_until(attacker, lambda f: f["type"] == "close")
        assert refused["reason"].startswith("events refused: the database cannot store them")
        assert not [f for f in before if f["type"] == "ack"]
        assert await attacker.receive_close() == 4400
        await victim.send_json_to({"type": "event", "events": [item(4)]})
        await receive_until(victim, lambda f: f == {"type": "ack", "seq": 4})
        await victim.disconnect()
        return ingest.event_writer().refused

    assert run(scenario) == 1
    assert not DockerEvent.objects.filter(node=attacker_node).exclude(seq=None).exists()


@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
def test_the_edge_drops_an_item_no_database_could_store(owner, poison):
    node, _ = register_node(owner)
    ctx = NodeContext.of(Node.objects.select_related("organization").get(pk=node.pk))
    assert agent_event_row(ctx, item(1) | poison, timezone.now()) is None
    assert agent_event_row(ctx, item(2**63 - 1), timezone.now()).seq == 2**63 - 1
