"""The fixed parts of the settings: the REST framework, the API schema, logging.

Nothing here reads the environment (`settings.py` does, and passes what these need); it
names each setting it takes from here, so every setting stays findable there.
"""

from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.PasswordBasicAuthentication",
        "accounts.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.api.LenientJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.LenientContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.EnvelopePagination",
    "PAGE_SIZE": 25,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "dockercloud API",
    "DESCRIPTION": "Our own API (/api/v1/) and the Docker Cloud API v1 compatible infra API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request bodies get their own components, so they can say what the server refuses
    # (unknown fields, read-only ones) without changing what answers say.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.models.Role",
        "TeamPermissionEnum": "accounts.models.Permission",
        "ServiceAccountRoleEnum": [("member", "member"), ("admin", "admin")],
    },
}


def logging_config(level: str) -> dict:
    """One console handler for every logger of the process (uvicorn's access log included:
    `serve` hands uvicorn no configuration of its own), with the filter that redacts
    credentials; the root logger at `level`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "core.logredact.RedactSecrets"}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers (console when DEBUG, mail_admins) would bypass the filter:
            # its records go to the root handler only.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.db.backends": {"level": "WARNING"},
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "axes": {"level": "WARNING"},
            "celery": {"level": "WARNING"},
            "kombu": {"level": "WARNING"},
        },
    }


# --- Periodic jobs (beat) -------------------------------------------------------------------
def beat_schedule(
    *, sweep: int, flush: int, reconcile: int, overlay: int, maintenance: int
) -> dict:
    """Every periodic job: DC_SWEEP_INTERVAL, DC_LIVENESS_FLUSH_SECONDS, DC_RECONCILE_INTERVAL,
    DC_OVERLAY_RECONCILE_INTERVAL and DC_MAINTENANCE_INTERVAL set the periods they name."""

    def every(task: str, seconds: float) -> dict:
        return {"task": task, "schedule": float(seconds)}

    return {
        "nodes-sweep-unreachable": every("nodes.tasks.sweep_unreachable", sweep),
        "nodes-flush-liveness": every("nodes.tasks.flush_liveness", flush),
        "nodes-reap-actions": every("nodes.tasks.reap_actions", sweep),
        "agentapi-forget-stale-ssh-installs": every(
            "agentapi.tasks.ssh_installs_forget_stale", 300
        ),
        "nodes-reconcile-clusters": every("nodes.tasks.reconcile_all", reconcile),
        "containers-follow-daemon-events": every("containers.tasks.follow_daemon_events", sweep),
        "overlay-reconcile": every("overlay.tasks.reconcile_all", overlay),
        "providers-refresh-catalog": every("providers.tasks.refresh_catalog", 3600),
        "maintenance-push-keys": every("maintenance.tasks.push_all", 60),
        "maintenance-check-clocks": every("maintenance.tasks.check_clocks", maintenance),
        "maintenance-clean-images": every("maintenance.tasks.clean_images_all", maintenance),
        "nodes-prune-events": every("nodes.tasks.prune_events", 3600),
    }


# --- Database -----------------------------------------------------------------------------
def postgres(url: str, *, pool: int) -> dict:
    """PostgreSQL from DATABASE_URL. With `pool` (DC_DB_POOL) above 0 each process keeps up to
    that many connections in psycopg's pool: under ASGI every request runs in a thread of its
    own, so Django's persistent connections (CONN_MAX_AGE) are never reused and each request
    would pay a new connection (about two thirds of a node list's time). 0 turns pooling off
    (for an external pooler such as PgBouncer). A prefork Celery child drops the pool it
    inherited (dockercloud/celery.py)."""
    # Health checks: a connection the pool kept across a PostgreSQL restart is tested (one empty
    # round trip) and replaced before a request gets it, instead of failing that request.
    database: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=0 if pool else 60, conn_health_checks=True)
    )
    if pool:
        database["OPTIONS"] = {**database.get("OPTIONS", {})}
        database["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": pool,
            # A request waits this long for a connection: during a database outage it is how long
            # before its 503, so short; a burst of requests is served in milliseconds each.
            "timeout": 3,
        }
    return database


# --- Redis: the cache, the Celery broker, the channel layers ------------------------------------
def redis_parts(
    *, url: str, sentinels: list[tuple[str, int]], master: str, sentinel_password: str
) -> dict:
    """How the cache (`cache`: LOCATION and OPTIONS), the channel layers (`layer_host`: one
    entry of their `hosts`) and the Celery broker (`broker_url`, `broker_options`) reach Redis:
    at REDIS_URL, or with DC_REDIS_SENTINELS the master the Sentinels know as
    DC_REDIS_SENTINEL_MASTER (asked again after a failover); REDIS_URL then gives only the
    database number and the master's password (DC_REDIS_SENTINEL_PASSWORD the Sentinels')."""
    if bool(sentinels) != bool(master):
        raise ImproperlyConfigured(
            "DC_REDIS_SENTINELS and DC_REDIS_SENTINEL_MASTER go together: the Sentinels' "
            "addresses and the name they know the master by"
        )
    if sentinels and not url:
        raise ImproperlyConfigured("DC_REDIS_SENTINELS needs REDIS_URL (its database, password)")
    if not sentinels:
        return {
            "cache": {"LOCATION": url},
            "layer_host": url,
            "broker_url": url,
            "broker_options": {},
        }
    sentinel_kwargs = {"password": sentinel_password} if sentinel_password else None
    found = {"sentinels": sentinels, "master_name": master, "sentinel_kwargs": sentinel_kwargs}
    params = parse_url(url)
    master_params = {k: params[k] for k in ("db", "username", "password") if k in params}
    credentials = url.partition("://")[2].rpartition("@")[0]
    at = f"{credentials}@" if credentials else ""
    db = params.get("db", 0)
    return {
        "cache": {
            "LOCATION": url,
            "OPTIONS": {"pool_class": "core.redis_sentinel.SentinelPool", **found},
        },
        "layer_host": {**found, **master_params},
        # Kombu's own Sentinel transport: one sentinel:// URL per Sentinel, `;` between them.
        "broker_url": ";".join(f"sentinel://{at}{_netloc(h, p)}/{db}" for h, p in sentinels),
        "broker_options": {"master_name": master, "sentinel_kwargs": sentinel_kwargs},
    }


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
