"""The Celery application: the same tasks run in separate workers or inside the web process."""

import logging.config
import os
import signal
import threading

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockercloud.settings")

app = Celery("dockercloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _server_logging(loglevel=None, **kwargs):
    """Workers and beat log through settings.LOGGING (its filter redacts credentials) instead
    of replacing the root logger's handlers with Celery's own (with this receiver connected,
    Celery leaves logging alone; inside the web process it is already configured)."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:  # `celery worker --loglevel INFO` still shows the worker's own lines
        logging.getLogger("celery").setLevel(loglevel)


@signals.beat_init.connect
def _beat_stops_on_signals(**kwargs):
    """SIGTERM and SIGINT unwind beat's loop; it saves its schedule on the way out.

    Celery's own handlers save the schedule inside the handler, on the database connection the
    interrupted frame may be using: a signal that lands during a query (psycopg runs handlers
    while it waits) then waits for that connection's lock forever, and beat never stops.
    The embedded beat (`make run`) runs in a thread: its process handles the signals.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        raise SystemExit()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


# Pools a prefork child inherited: never closed (their sockets are the parent's; closing or
# even freeing one would end the parent's session), only kept out of the child's way.
_inherited_pools: list = []


@signals.worker_process_init.connect
def _own_database_pool(**kwargs):
    """A prefork child opens its own pooled connections: the pool it inherited holds the
    parent's sockets (Celery's own handler takes care of a connection checked out)."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    pools = DatabaseWrapper._connection_pools  # type: ignore[attr-defined]
    _inherited_pools.extend(pools.values())
    pools.clear()
