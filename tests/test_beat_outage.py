"""Beat outlives a database outage: a schedule reread that fails keeps the schedule it had,
and the next tick after the database is back reads it again. The outage is real: the
connection is pointed at a port nothing listens on."""

from datetime import datetime, timedelta

import pytest
from django.db import connections
from django_celery_beat.schedulers import DatabaseScheduler

from dockercloud.beat import OutageTolerantScheduler
from dockercloud.celery import app

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
