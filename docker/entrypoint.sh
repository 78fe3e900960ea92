#!/bin/sh
# The image's entrypoint: one image, one process per container, chosen by the first argument
# or, without one, by $DC_ROLE (docs/DEPLOY.md).
#
#   web        the portal, API and websockets (uvicorn) on 0.0.0.0:$DC_PORT (8000); runs the
#              migrations first when DC_MIGRATE_ON_START=1 (one web process only: two
#              migrating at once race)
#   worker     a Celery worker (extra arguments go to `celery worker`)
#   beat       Celery beat: exactly one in the whole deployment
#   migrate    apply the database migrations and exit (a one-shot before the others start)
#   manage     any `manage.py` command: `manage createsuperuser`, `manage check --deploy`
#   anything else runs as a command (`sh`, `python`)
set -eu
cd /app

# The settings want the host names to answer for; by default, the host of DC_PUBLIC_URL.
if [ -z "${DC_ALLOWED_HOSTS:-}" ] && [ -n "${DC_PUBLIC_URL:-}" ]; then
    DC_ALLOWED_HOSTS=$(printf '%s' "$DC_PUBLIC_URL" | sed -E 's#^[a-z]+://##; s#/.*$##; s#:[0-9]+$##')
    export DC_ALLOWED_HOSTS
fi

role=${DC_ROLE:-web}
if [ "$#" -gt 0 ]; then
    role=$1
    shift
fi
# The health check of this container reads what it runs (web: /healthz, others: the broker).
printf '%s\n' "$role" >/tmp/dockercloud-role 2>/dev/null || true

case "$role" in
    web)
        if [ "${DC_MIGRATE_ON_START:-0}" = 1 ]; then
            python manage.py migrate --noinput
        fi
        exec python manage.py serve --host "${DC_BIND_HOST:-0.0.0.0}" \
            --port "${DC_PORT:-8000}" --no-admin "$@"
        ;;
    worker)
        exec celery -A dockercloud worker --loglevel "${DC_LOG_LEVEL:-INFO}" "$@"
        ;;
    beat)
        exec celery -A dockercloud beat --loglevel "${DC_LOG_LEVEL:-INFO}" \
            --schedule /tmp/celerybeat-schedule "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
