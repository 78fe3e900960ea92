"""GET /healthz: database, cache/broker and channel layer status for probes and operators."""

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _cache() -> str:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value it stored")
    cache.delete(key)
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def _broker() -> str:
    from celery import current_app as app  # the project's (dockercloud/celery.py)

    if settings.CELERY_BROKER_URL.startswith("memory://"):
        return "memory"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return conn.transport_cls if isinstance(conn.transport_cls, str) else "redis"


def _channel_layer() -> str:
    layer = get_channel_layer()

    async def roundtrip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "healthz"})
        message = await layer.receive(channel)
        if message.get("type") != "healthz":
            raise RuntimeError("channel layer returned a different message")

    async_to_sync(roundtrip)()
    return type(layer).__name__


CHECKS = {
    "database": _database,
    "cache": _cache,
    "broker": _broker,
    "channel_layer": _channel_layer,
}


@never_cache
@require_GET
def healthz(request):
    """Anyone (a load balancer) gets the status and each component's ok flag; staff also see
    the backends. Failures are logged here, never answered: their text can carry addresses,
    user names or passwords of the backends."""
    report: dict[str, object] = {}
    healthy = True
    detailed = request.user.is_authenticated and request.user.is_staff
    for name, check in CHECKS.items():
        try:
            backend = check()
        except Exception:  # noqa: BLE001 (a probe reports any failure, never raises)
            log.exception("health check %s failed", name)
            healthy = False
            report[name] = {"ok": False}
        else:
            report[name] = {"ok": True, "backend": backend} if detailed else {"ok": True}
    report["status"] = "ok" if healthy else "error"
    return JsonResponse(report, status=200 if healthy else 503)
