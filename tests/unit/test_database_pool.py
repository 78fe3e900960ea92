"""PostgreSQL connections are pooled per process: under ASGI each request runs in a thread of
its own, so without the pool every request paid a new connection."""

import pytest
from django.db import connection

from dockercloud import celery as celery_app
from dockercloud import settings_parts


def test_the_pool_is_on_by_default_and_can_be_turned_off():
    pooled = settings_parts.postgres("postgres://dc@db:5432/dc", pool=20)
    assert pooled["OPTIONS"]["pool"]["max_size"] == 20
    assert pooled["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool
    assert pooled["CONN_HEALTH_CHECKS"] is True  # a connection kept across a restart is tested
    direct = settings_parts.postgres("postgres://dc@db:5432/dc", pool=0)
    assert "pool" not in direct.get("OPTIONS", {})
    assert direct["CONN_MAX_AGE"] == 60


@pytest.mark.django_db(transaction=True)
def test_requests_reuse_pooled_connections():
    if connection.vendor != "postgresql":
        pytest.skip("the embedded default (SQLite) has no pool")
    assert connection.pool is not None
    backends = set()
    for _ in range(20):  # what each request does: take a connection, give it back at its end
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.add(cursor.fetchone()[0])
        connection.close()
    assert len(backends) <= 2  # the pool's few connections, not one per request


@pytest.mark.django_db(transaction=True)
def test_a_prefork_child_does_not_use_the_pool_it_inherited():
    if connection.vendor != "postgresql":
        pytest.skip("the embedded default (SQLite) has no pool")
    inherited = connection.pool
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    celery_app._own_database_pool()
    try:
        assert connection.pool is not inherited
        assert inherited in celery_app._inherited_pools  # kept, never closed: not its sockets
    finally:  # in this test the "parent" is this process: its pool is ours to close
        celery_app._inherited_pools.remove(inherited)
        inherited.close()
