"""The embedded default: Celery workers and beat inside the web process.

Measured (LAB.md): on the in-memory broker, solo-pool workers in threads run tasks in
milliseconds, while the threads pool stalls; so we start several solo workers. The same task
code runs in separate `celery worker` processes in production.
"""

import contextlib
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

from celery import Celery
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from django.conf import settings

log = logging.getLogger(__name__)


def start_embedded_celery(
    app: Celery, *, workers: int | None = None, beat: bool = True
) -> list[AbstractContextManager]:
    """Start `workers` solo workers (and beat) in daemon threads; return their contexts."""
    contexts: list[AbstractContextManager] = []
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
        beat_ctx = _beat_thread(app)
        beat_ctx.__enter__()
        contexts.append(beat_ctx)
    log.info(
        "embedded Celery: %d worker(s)%s",
        workers or settings.DC_EMBEDDED_WORKERS,
        " + beat" if beat else "",
    )
    return contexts


@contextlib.contextmanager
def _beat_thread(app: Celery) -> Iterator[None]:
    service = EmbeddedService(app, thread=True, scheduler_cls=settings.CELERY_BEAT_SCHEDULER)
    assert isinstance(service, threading.Thread)  # thread=True: a thread of this process
    service.daemon = True
    service.start()
    try:
        yield
    finally:
        service.stop()


def stop_embedded_celery(contexts: list[AbstractContextManager]) -> None:
    for ctx in reversed(contexts):
        try:
            ctx.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 (best effort at shutdown)
            log.exception("stopping an embedded Celery component")
