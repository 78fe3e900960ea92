"""Beat's schedule from the database, surviving the database's outages.

django-celery-beat rereads every periodic task at start, when one changed, and at least every
5 minutes; an outage that spans such a reread raised out of beat and ended it for good, and
with it the liveness sweep, the reconcilers and the pruning. Here a failed reread keeps the
schedule beat had (the jobs keep being sent: they need the broker, not the database) and is
tried again on the next tick until the database answers.
"""

import logging

from django.db import DatabaseError, InterfaceError, close_old_connections, connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


class OutageTolerantScheduler(DatabaseScheduler):
    _reread_pending = False

    def all_as_schedule(self):
        try:
            schedule = super().all_as_schedule()
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("beat: the database is unreachable (%s); keeping the schedule", exc)
            close_old_connections()
            self._reread_pending = True
            return getattr(self, "_schedule", None) or {}
        if self._reread_pending:
            logger.warning("beat: the database answers again; schedule reread")
        self._reread_pending = False
        return schedule

    def schedule_changed(self):
        return super().schedule_changed() or self._reread_pending

    def close(self):
        # Beat stops by an exception raised where the signal landed, possibly mid-query: that
        # connection may still be busy. The schedule is saved on a fresh one.
        connections.close_all()
        super().close()
