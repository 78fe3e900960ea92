"""dockercloud settings, driven by the environment (see README, "Configuration").

Nothing set: the embedded default (SQLite under var/, Celery and Channels in memory, one process).
`DATABASE_URL` / `REDIS_URL` switch to the production topology with the same code.
`DC_ENV=production` turns on every production safeguard and refuses to start without its secrets.
"""

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from core import signing
from core.clientip import LOOPBACK_NAMES, is_loopback
from core.env import (
    env_addresses,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_str,
    generated_secret,
)

from . import settings_parts

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DC_VAR_DIR", str(BASE_DIR / "var")))

DC_ENV = env_str("DC_ENV", "development")
if DC_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DC_ENV must be 'development' or 'production'; got {DC_ENV!r}")
PRODUCTION = DC_ENV == "production"
# The address `manage.py serve` binds (`make run HOST=...` sets it). The embedded default's
# conveniences (DEBUG, any Host name) are for a loopback bind: off it they would be the
# network's, so DEBUG is off and the host names come from DC_PUBLIC_URL or DC_ALLOWED_HOSTS.
DC_BIND_HOST = env_str("DC_BIND_HOST", "127.0.0.1")
LOOPBACK_BIND = is_loopback(DC_BIND_HOST)
DEBUG = env_bool("DC_DEBUG", not PRODUCTION and LOOPBACK_BIND)
if DEBUG and not LOOPBACK_BIND:
    raise ImproperlyConfigured(
        f"DC_DEBUG is on while serving on {DC_BIND_HOST} (DC_BIND_HOST): debug pages would show "
        "settings and request headers to the network. Unset DC_DEBUG or bind 127.0.0.1."
    )


SECRET_KEY = env_secret("DC_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DC_SECRET_KEY (or DC_SECRET_KEY_FILE) is required in production"
        )
    SECRET_KEY = generated_secret(VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(50))

# Public base URL of the control plane as nodes reach it (install command, agent websocket).
DC_PUBLIC_URL = env_str("DC_PUBLIC_URL").rstrip("/")
ALLOWED_HOSTS = env_list("DC_ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    if PRODUCTION:
        raise ImproperlyConfigured("DC_ALLOWED_HOSTS is required in production")
    if LOOPBACK_BIND:
        ALLOWED_HOSTS = ["*"]  # reachable from this machine only
    elif public_host := urlsplit(DC_PUBLIC_URL).hostname:
        ALLOWED_HOSTS = [public_host, *LOOPBACK_NAMES]
    else:
        raise ImproperlyConfigured(
            f"Serving on {DC_BIND_HOST} (not loopback) needs the host names to answer for: set "
            "DC_PUBLIC_URL (the address nodes and browsers reach, e.g. http://10.0.0.5:8000) "
            "or DC_ALLOWED_HOSTS."
        )
if "*" in ALLOWED_HOSTS and not LOOPBACK_BIND:
    raise ImproperlyConfigured(
        f"DC_ALLOWED_HOSTS='*' while serving on {DC_BIND_HOST}: name the host names instead."
    )
CSRF_TRUSTED_ORIGINS = env_list("DC_CSRF_TRUSTED_ORIGINS")
if PRODUCTION and not DC_PUBLIC_URL.startswith("https://"):
    # Hosts fetch the install script and the agent they run as root from here.
    raise ImproperlyConfigured(
        f"DC_PUBLIC_URL must be an https:// URL in production; got {DC_PUBLIC_URL!r}"
    )
# Signs agent upgrades (core.signing); agents get the public half at registration.
DC_SIGNING_KEY = env_secret("DC_SIGNING_KEY")
if not DC_SIGNING_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DC_SIGNING_KEY (or DC_SIGNING_KEY_FILE) is required in production: "
            "an Ed25519 key from `openssl genpkey -algorithm ed25519`"
        )
    DC_SIGNING_KEY = generated_secret(VAR_DIR / "signing.key", signing.generate_key_pem)
signing.parse_private_key(DC_SIGNING_KEY)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "axes",
    "core",
    "accounts",
    "nodes",
    "agentapi",
    "providers",
    "overlay",
    "maintenance",
    "containers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.openerpolicy.OpenerPolicyMiddleware",
    "core.outage.DatabaseOutageMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dockercloud.urls"
ASGI_APPLICATION = "dockercloud.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organizations",
            ],
            "builtins": ["core.templatetags.when"],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_secret("DATABASE_URL")
DC_DB_POOL = env_int("DC_DB_POOL", 20, low=0, high=500)  # connections per process
if DATABASE_URL:
    DATABASES = {"default": settings_parts.postgres(DATABASE_URL, pool=DC_DB_POOL)}
else:
    if PRODUCTION:
        raise ImproperlyConfigured("DATABASE_URL is required in production")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "dockercloud.sqlite3"),
            # WAL + a busy timeout: the embedded worker threads write beside the web requests.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, channel layer ------------------------------------------
REDIS_URL = env_secret("REDIS_URL")
EMBEDDED = not REDIS_URL
# Names in Redis (channel layers, liveness) start with this: deployments may share one Redis.
DC_CHANNEL_PREFIX = env_str("DC_CHANNEL_PREFIX", "dc")
if PRODUCTION and EMBEDDED:
    raise ImproperlyConfigured("REDIS_URL is required in production")
# Redis Sentinel: the master is found through these (host:port, ...) by its name, again after
# a failover; REDIS_URL then gives only the database number and the master's password.
DC_REDIS_SENTINELS = env_addresses("DC_REDIS_SENTINELS", 26379)
DC_REDIS_SENTINEL_MASTER = env_str("DC_REDIS_SENTINEL_MASTER")
_redis = settings_parts.redis_parts(
    url=REDIS_URL,
    sentinels=DC_REDIS_SENTINELS,
    master=DC_REDIS_SENTINEL_MASTER,
    sentinel_password=env_secret("DC_REDIS_SENTINEL_PASSWORD"),
)
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", **_redis["cache"]}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [_redis["layer_host"]],
                "prefix": DC_CHANNEL_PREFIX,
                # Tunnel streams (followed logs, events) queue many small messages.
                "capacity": 2000,
            },
        }
    }
    CELERY_BROKER_URL = _redis["broker_url"]
    CELERY_BROKER_TRANSPORT_OPTIONS = _redis["broker_options"]
else:
    # Room for the nodes' hour of metric samples (60 keys a node: nodes/metrics.py); the
    # default of 300 entries would cull them past a handful of nodes.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2000}}
    }
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.01}

# Live events (nodes.consumers) fan out on a layer of their own. With Redis it is pub/sub (one
# reader per process; the default layer's receive costs four round trips per message, one
# message at a time per process) with pipelined group sends. At most once: pages catch up
# from the database after a reconnect.
CHANNEL_LAYERS["events"] = (
    {
        "BACKEND": "realtime.layer.EventsPubSubLayer",
        "CONFIG": {"hosts": [_redis["layer_host"]], "prefix": DC_CHANNEL_PREFIX + "-ev"},
    }
    if REDIS_URL
    else {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2000}}
)

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# django-celery-beat's, surviving database outages (dockercloud.beat).
CELERY_BEAT_SCHEDULER = "dockercloud.beat:OutageTolerantScheduler"
CELERY_TIMEZONE = "UTC"
# Number of in-process worker threads in the embedded default.
DC_EMBEDDED_WORKERS = env_int("DC_EMBEDDED_WORKERS", 3)

# --- Auth and security --------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = env_int("DC_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = env_int("DC_LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout"
AXES_VERBOSE = False
# Proxies whose X-Forwarded-For names the client (core.clientip): addresses or networks.
DC_TRUSTED_PROXIES = env_networks("DC_TRUSTED_PROXIES")
AXES_CLIENT_IP_CALLABLE = "core.clientip.client_ip"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Sent by core.openerpolicy on https and loopback only (browsers ignore it, noisily, elsewhere).
SECURE_CROSS_ORIGIN_OPENER_POLICY = None
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DC_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DC_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DC_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading commits the whole domain to HTTPS in browsers for years: an operator opts
        # in with DC_HSTS_PRELOAD=1 rather than getting it by default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # /healthz must answer plain HTTP probes from a load balancer.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Invitations, registration tokens, agents.
DC_INVITATION_DAYS = env_int("DC_INVITATION_DAYS", 7)
DC_REGISTRATION_TOKEN_TTL = env_int("DC_REGISTRATION_TOKEN_TTL", 3600)  # seconds
DC_HEARTBEAT_INTERVAL = env_int("DC_HEARTBEAT_INTERVAL", 15)  # seconds
# Seconds between batched writes of heartbeats to the node rows: what pages show lags by this.
DC_LIVENESS_FLUSH_SECONDS = env_int("DC_LIVENESS_FLUSH_SECONDS", 3, low=1, high=60)
# Seconds between two checks of how a node's daemon is reached (asked by its agent's hello and
# by heartbeats while it is Deploying or Unreachable): one at a time per node, at most this often.
DC_PROBE_INTERVAL = env_int("DC_PROBE_INTERVAL", 5)
# BYO over SSH may connect to loopback, link-local and the control plane's own addresses
# (labs and tests, whose SSH servers live there); never needed in production.
DC_SSH_ALLOW_LOCAL_TARGETS = env_bool("DC_SSH_ALLOW_LOCAL_TARGETS", False)
# What makes the local provider's hosts (development only): a dotted path to a class with the
# `providers.drivers.local.LocalHosts` interface. The default is the node lab's.
DC_LOCAL_HOSTS = env_str("DC_LOCAL_HOSTS", "lab.provider.LabHosts")
# How the agent upgrades Docker; lab hosts share the machine's packages, so the lab sets a
# command that only restarts the daemon from the same binary.
DC_UPGRADE_DOCKER_COMMAND = env_str(
    "DC_UPGRADE_DOCKER_COMMAND",
    "if command -v apt-get >/dev/null; then apt-get update -qq && "
    "apt-get install -y -qq --only-upgrade docker.io; "
    "elif command -v dnf >/dev/null; then dnf -y upgrade docker moby-engine; "
    "else yum -y update docker; fi",
)
# Seconds the agent has to upgrade Docker (the worker waits this long for its answer).
DC_DOCKER_UPGRADE_TIMEOUT = env_int("DC_DOCKER_UPGRADE_TIMEOUT", 900)
# Seconds between liveness sweeps: nodes that missed their heartbeats, actions past their deadline.
DC_SWEEP_INTERVAL = env_int("DC_SWEEP_INTERVAL", 5)
# Seconds past an action's own time bound before the reaper concludes no worker will finish it.
DC_ACTION_GRACE = env_int("DC_ACTION_GRACE", 60)
DC_RECONCILE_INTERVAL = env_int("DC_RECONCILE_INTERVAL", 10)  # seconds between cluster passes
# The overlay: each organization's subnet (DC_OVERLAY_PREFIX bits) comes from this pool; no two
# organizations share one. Encrypted (IPsec) unless switched off (the lab's kernel drops ESP).
# API lists count exactly below this many rows; past it the count is kept for a few seconds.
DC_LIST_COUNT_CACHE_MIN = env_int("DC_LIST_COUNT_CACHE_MIN", 10_000)
DC_LIST_COUNT_CACHE_SECONDS = env_int("DC_LIST_COUNT_CACHE_SECONDS", 10)
DC_OVERLAY_POOL = env_str("DC_OVERLAY_POOL", "10.64.0.0/10")
DC_OVERLAY_PREFIX = env_int("DC_OVERLAY_PREFIX", 20)
DC_OVERLAY_ENCRYPTED = env_bool("DC_OVERLAY_ENCRYPTED", True)
# Seconds between passes that bring each organization's swarm in line with its nodes.
DC_OVERLAY_RECONCILE_INTERVAL = env_int("DC_OVERLAY_RECONCILE_INTERVAL", 30)
# A pass holds a per-cluster lock this long at most (a crashed worker's lock then expires).
DC_RECONCILE_LOCK_SECONDS = env_int("DC_RECONCILE_LOCK_SECONDS", 60)
# A provider node that is not Deployed this long after its host was requested is replaced.
DC_NODE_DEPLOY_TIMEOUT = env_int("DC_NODE_DEPLOY_TIMEOUT", 600)
# Another EC2/STS endpoint for the aws driver (moto's server in tests); empty: AWS itself.
DC_AWS_ENDPOINT_URL = env_str("DC_AWS_ENDPOINT_URL")
# The DigitalOcean and Hetzner API roots (a stand-in server in tests).
DC_DIGITALOCEAN_API_URL = env_str("DC_DIGITALOCEAN_API_URL", "https://api.digitalocean.com/v2")
DC_HETZNER_API_URL = env_str("DC_HETZNER_API_URL", "https://api.hetzner.cloud/v1")
# Events: kept this many days after the control plane received them; beat prunes hourly.
DC_EVENT_RETENTION_DAYS = env_int("DC_EVENT_RETENTION_DAYS", 30)
# Node maintenance (README): defaults organizations may override, then seconds between clock
# checks and image listings, between image removals, and before a node is synced again.
DC_CLOCK_SKEW_MAX = env_float("DC_CLOCK_SKEW_MAX", 1.0, low=0.01, high=3600)
DC_IMAGE_UNUSED_MINUTES = env_int("DC_IMAGE_UNUSED_MINUTES", 30, low=1, high=525600)
DC_LOG_FILES_KEPT = env_int("DC_LOG_FILES_KEPT", 1, low=0, high=20)
DC_MAINTENANCE_INTERVAL = env_int("DC_MAINTENANCE_INTERVAL", 30, low=1, high=86400)
DC_IMAGE_CLEANUP_INTERVAL = env_int("DC_IMAGE_CLEANUP_INTERVAL", 300, low=1, high=604800)
DC_CLOCK_SYNC_COOLDOWN = env_int("DC_CLOCK_SYNC_COOLDOWN", 600, low=0, high=604800)
# The periodic jobs, at the periods above (dockercloud/settings_parts.py).
CELERY_BEAT_SCHEDULE = settings_parts.beat_schedule(
    sweep=DC_SWEEP_INTERVAL,
    flush=DC_LIVENESS_FLUSH_SECONDS,
    reconcile=DC_RECONCILE_INTERVAL,
    overlay=DC_OVERLAY_RECONCILE_INTERVAL,
    maintenance=DC_MAINTENANCE_INTERVAL,
)

# --- Email --------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("DC_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("DC_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DC_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DC_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_secret("DC_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("DC_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DC_EMAIL_FROM", "dockercloud <noreply@localhost>")

# --- I18N, static -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- REST API, its schema, logging (fixed parts: dockercloud/settings_parts.py) -------------
REST_FRAMEWORK = settings_parts.REST_FRAMEWORK
SPECTACULAR_SETTINGS = settings_parts.SPECTACULAR_SETTINGS
LOGGING = settings_parts.logging_config(env_str("DC_LOG_LEVEL", "INFO"))
