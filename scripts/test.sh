#!/usr/bin/env bash
# `make test`: set up PostgreSQL and Redis privately, lint, run the suite on PostgreSQL, then a
# smoke run on the embedded default (SQLite). Extra pytest arguments come from $PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"

$PY scripts/testenv.py packages
trap '$PY scripts/testenv.py down' EXIT
eval "$($PY scripts/testenv.py up)"

echo "== lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
$PY scripts/lint_tenancy.py
$PY manage.py makemigrations --check --dry-run >/dev/null || {
  echo "models changed without a migration: run manage.py makemigrations" >&2; exit 1; }

run_pytest() {
  set +e
  $PY -m pytest "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "pytest: no tests matched (exit 5), not a failure"
    return 0
  fi
  return "$rc"
}

echo "== suite on PostgreSQL + Redis"
# shellcheck disable=SC2086 (PYTEST_ARGS is a list of words on purpose)
run_pytest -n "${DC_TEST_WORKERS:-2}" ${PYTEST_ARGS:-}

echo "== the node agent's own suite (its own rootdir: no Django)"
(cd agent && run_pytest -q -p no:cacheprovider -n "${DC_TEST_WORKERS:-2}")

echo "== smoke on the embedded default (SQLite, in-memory broker and channel layer)"
smoke_var=$(mktemp -d)
trap '$PY scripts/testenv.py down; rm -rf "$smoke_var"' EXIT
DATABASE_URL= REDIS_URL= DC_VAR_DIR="$smoke_var" $PY manage.py migrate --noinput >/dev/null
# shellcheck disable=SC2086
DATABASE_URL= REDIS_URL= DC_VAR_DIR="$smoke_var" run_pytest -m smoke -p no:xdist ${PYTEST_ARGS:-}
