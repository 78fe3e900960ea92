"""The Celery application: the same tasks run in separate workers or inside the web process."""

import logging.config
import os

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
