#!/usr/bin/env bash
# `make bench`: the figures of bench/*.py on a private PostgreSQL and Redis (the same ones
# `make test` starts), stopped again at the end. Each benchmark prints its figures beside the
# targets it is held to.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"

$PY scripts/testenv.py packages
trap '$PY scripts/testenv.py down' EXIT
env_lines=$($PY scripts/testenv.py up) || { echo "make bench: the private PostgreSQL and Redis did not start (above)" >&2; exit 1; }
eval "$env_lines"
status=0
for bench in bench/*.py; do
  echo "== $bench"
  $PY "$bench" "$@" || status=$?
done
exit "$status"
