"""GET /healthz reports the database, cache/broker and channel layer."""

import pytest
from django.conf import settings

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def test_healthz_reports_every_dependency(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "cache", "broker", "channel_layer"} <= set(body)
    expected_db = (
        "postgresql" if "postgres" in settings.DATABASES["default"]["ENGINE"] else "sqlite"
    )
    assert body["database"]["backend"] == expected_db
    expected_layer = "RedisChannelLayer" if settings.REDIS_URL else "InMemoryChannelLayer"
    assert body["channel_layer"]["backend"] == expected_layer


def test_healthz_reports_a_broken_dependency(client, monkeypatch):
    from core import health

    def broken():
        raise ConnectionError("connection refused")

    monkeypatch.setitem(health.CHECKS, "cache", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["cache"] == {"ok": False, "error": "ConnectionError: connection refused"}
