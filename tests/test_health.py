"""GET /healthz reports the database, cache/broker and channel layer."""

import pytest
from django.conf import settings

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
COMPONENTS = {"database", "cache", "broker", "channel_layer"}


def test_healthz_reports_every_dependency(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body == {"status": "ok", **{name: {"ok": True} for name in COMPONENTS}}


def test_staff_also_see_the_backends(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    body = client.get("/healthz").json()
    expected_db = (
        "postgresql" if "postgres" in settings.DATABASES["default"]["ENGINE"] else "sqlite"
    )
    assert body["database"] == {"ok": True, "backend": expected_db}
    expected_layer = "RedisChannelLayer" if settings.REDIS_URL else "InMemoryChannelLayer"
    assert body["channel_layer"]["backend"] == expected_layer


def test_a_failing_dependency_is_named_but_its_error_stays_in_the_server_log(
    client, monkeypatch, caplog
):
    """An anonymous prober learns that the cache is down, not the address, user or password
    in the exception (a Redis URL with its password, here)."""
    from core import health

    def broken():
        raise ConnectionError("Error connecting to redis://:hunter2@10.9.8.7:6379/0: refused")

    monkeypatch.setitem(health.CHECKS, "cache", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["cache"] == {"ok": False}
    assert all(set(body[name]) == {"ok"} for name in COMPONENTS)
    assert b"hunter2" not in response.content and b"10.9.8.7" not in response.content
    assert b"ConnectionError" not in response.content
    logged = [r for r in caplog.records if r.name == "core.health"]
    assert logged and logged[0].exc_info[0] is ConnectionError  # kept for the operator
