"""The embedded default: Celery workers and beat inside the web process.

Measured (LAB.md): on the in-memory broker, solo-pool workers in threads run tasks in
milliseconds, while the threads pool stalls; so we start several solo workers. The same task
code runs in separate `celery worker` processes in production.
"""

import logging
import threading

from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from django.conf import settings

log = logging.getLogger(__name__)


def start_embedded_celery(app, *, workers: int | None = None, beat: bool = True) -> list:
    """Start `workers` solo workers (and beat) in daemon threads; return their contexts."""
    contexts = []
    for index in range(workers or settings.DC_EMBEDDED_WORKERS):
        ctx = start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            hostname=f"embedded-{index}@dockercloud",
            loglevel="WARNING",
            shutdown_timeout=10,
        )
        ctx.__enter__()
        contexts.append(ctx)
    if beat:
        service = EmbeddedService(app, thread=True, scheduler_cls=settings.CELERY_BEAT_SCHEDULER)
        service.daemon = True
        service.start()
        contexts.append(service)
    log.info(
        "embedded Celery: %d worker(s)%s",
        workers or settings.DC_EMBEDDED_WORKERS,
        " + beat" if beat else "",
    )
    return contexts


def stop_embedded_celery(contexts: list) -> None:
    for ctx in reversed(contexts):
        try:
            if isinstance(ctx, threading.Thread):
                ctx.stop()
            else:
                ctx.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 (best effort at shutdown)
            log.exception("stopping an embedded Celery component")
