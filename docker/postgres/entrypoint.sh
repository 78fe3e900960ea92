#!/bin/sh
# First start: a cluster in $PGDATA whose superuser $POSTGRES_USER (dockercloud) has the
# password in $POSTGRES_PASSWORD_FILE, and its database $POSTGRES_DB (dockercloud). Then serve
# on every address of the container with password (scram) authentication.
set -eu
user=${POSTGRES_USER:-dockercloud}
db=${POSTGRES_DB:-dockercloud}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -s "${POSTGRES_PASSWORD_FILE:-}" ] || { echo "dockercloud-postgres: POSTGRES_PASSWORD_FILE is empty or unset" >&2; exit 1; }
    initdb -D "$PGDATA" -U "$user" --pwfile="$POSTGRES_PASSWORD_FILE" -E UTF8 \
        --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" \
        | postgres --single -D "$PGDATA" -c unix_socket_directories= postgres >/dev/null
    echo "dockercloud-postgres: initialised $PGDATA (database $db, user $user)"
fi
# Each web and worker process keeps up to DC_DB_POOL (20) connections open.
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp \
    -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}"
