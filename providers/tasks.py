"""Celery tasks of providers: thin, idempotent."""

import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def refresh_catalog() -> None:
    """Rebuild the provider catalog from the drivers (beat, hourly; also lazily on first use)."""
    counts = services.catalog_refresh()
    log.info("provider catalog refreshed: %s", counts)
