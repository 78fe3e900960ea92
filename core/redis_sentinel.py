"""Django's Redis cache through Redis Sentinel (DC_REDIS_SENTINELS).

Django's RedisCache makes its connection pool with `pool_class.from_url(LOCATION, **OPTIONS)`;
this pool class asks the Sentinels for the master instead of connecting to the URL's host, and
asks again after a failover (redis-py's SentinelConnectionPool). The URL still gives the
database number and the master's password. Channels and Celery take Sentinels natively
(dockercloud/settings_parts.py).
"""

import redis
from redis.connection import parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool


class SentinelPool:
    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        sentinels: list[tuple[str, int]],
        master_name: str,
        sentinel_kwargs: dict | None = None,
        **options,
    ) -> SentinelConnectionPool:
        params = parse_url(url)
        params.pop("host", None)
        params.pop("port", None)
        manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
        return SentinelConnectionPool(master_name, manager, **params, **options)


def redis_client() -> redis.Redis:
    """A Redis client for the product's own keys (liveness), reaching Redis the way the cache
    does: at REDIS_URL, or through the Sentinels when they are configured."""
    from django.conf import settings

    cache = settings.CACHES["default"]
    options = dict(cache.get("OPTIONS", {}))
    if options.pop("pool_class", None):
        return redis.Redis(connection_pool=SentinelPool.from_url(cache["LOCATION"], **options))
    return redis.Redis.from_url(cache["LOCATION"])
