"""Beat outlives a database outage: a schedule reread that fails keeps the schedule it had,
and the next tick after the database is back reads it again. The outage is real: the
connection is pointed at a port nothing listens on."""

import os
import signal
from datetime import datetime, timedelta

import pytest
from django.db import connection, connections, transaction
from django_celery_beat.schedulers import DatabaseScheduler

from dockercloud.beat import OutageTolerantScheduler
from dockercloud.celery import app
from lab.control_plane import CELERY
from tests.e2e.conftest import wait_for
from tests.webproc import Server, production_env

pytestmark = pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="an outage of the PostgreSQL server"
)


def _forced_reread(scheduler) -> dict:
    scheduler._last_full_sync = datetime.now() - timedelta(minutes=6)  # the 5-minute reread
    return scheduler.schedule


def test_a_reread_during_an_outage_keeps_the_schedule_and_retries(database_cut):
    scheduler = OutageTolerantScheduler(app=app, lazy=False)
    jobs = set(scheduler.schedule)
    assert "nodes-sweep-unreachable" in jobs

    database_cut(True)
    assert set(_forced_reread(scheduler)) == jobs  # kept, no exception
    assert set(scheduler.schedule) == jobs  # retried on the next tick, still down: kept

    database_cut(False)
    assert scheduler.schedule_changed()  # a reread is pending
    assert set(scheduler.schedule) == jobs
    assert not scheduler.schedule_changed()


def test_the_stock_scheduler_dies_on_the_same_outage(database_cut):
    """What the subclass is for: this is the exception that ended beat."""
    scheduler = DatabaseScheduler(app=app, lazy=False)
    scheduler.schedule  # noqa: B018 (the initial read)
    database_cut(True)
    with pytest.raises(Exception, match="connection"):
        _forced_reread(scheduler)


def _waiting_on_locks(cursor) -> int:
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    return cursor.fetchone()[0]


def test_beat_stops_on_a_sigterm_that_lands_mid_query(transactional_db, tmp_path):
    """Celery's own handler saved the schedule on the connection whose query the signal had
    interrupted, and waited for that connection's lock forever."""
    # Without the pool (DC_DB_POOL=0, behind PgBouncer) the connection outlives each tick;
    # pooled, Celery's handler happens to take a fresh one.
    env = production_env(tmp_path, DC_SWEEP_INTERVAL="1", DC_DB_POOL="0")
    beat = Server([*CELERY, "beat", "--loglevel", "INFO"], env, tmp_path / "beat.log", 0)
    beat.start(healthy=False)
    try:
        wait_for(lambda: "Sending due task" in beat.output(), timeout=60, message="beat's jobs")
        with transaction.atomic(), connection.cursor() as cursor:
            # Beat reads this table on every tick: its next read waits, mid-query.
            cursor.execute("LOCK TABLE django_celery_beat_periodictasks IN ACCESS EXCLUSIVE MODE")
            wait_for(lambda: _waiting_on_locks(cursor), timeout=10, message="beat to wait")
            os.kill(beat.process.pid, signal.SIGTERM)
            # Stopping, beat saves its schedule on a new connection (which waits for the lock
            # too), or has nothing to save and is gone.
            wait_for(
                lambda: beat.process.poll() is not None or _waiting_on_locks(cursor) >= 2,
                timeout=10,
                message="beat to leave the interrupted query",
                seen=beat.output,
            )
        assert beat.process.wait(10) == 0
    finally:
        beat.stop()
