#!/usr/bin/env bash
# `make test`: set up PostgreSQL and Redis privately, lint, run the suite on PostgreSQL, then a
# smoke run on the embedded default (SQLite). Extra pytest arguments come from $PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"

$PY scripts/testenv.py packages
trap '$PY scripts/testenv.py down' EXIT
# Not `eval "$(... up)"`: that would swallow up's exit status and run the suite without the
# environment it promised. A failed `up` stops here with its own message.
env_lines=$($PY scripts/testenv.py up) || { echo "make test: the private PostgreSQL and Redis did not start (above)" >&2; exit 1; }
eval "$env_lines"
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
  echo "make test: testenv did not give DATABASE_URL and REDIS_URL" >&2
  exit 1
fi

# Under CI (DC_CI=1, set by .ci/run) a skipped test fails the run unless its reason is on
# tests/skip_allowlist.txt, and "no tests ran" is a failure: a smaller suite never passes.
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
NOSKIP=(-p pytest_noskip)

echo "== lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
$PY scripts/lint_tenancy.py
$PY scripts/lint_module_size.py
.venv/bin/mypy  # the server apps, as configured in pyproject.toml
.venv/bin/lint-imports  # layers run one way; production never imports the lab (pyproject.toml)
$PY manage.py makemigrations --check --dry-run >/dev/null || {
  echo "models changed without a migration: run manage.py makemigrations" >&2; exit 1; }

run_pytest() {
  set +e
  $PY -m pytest "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ] && [ "${DC_CI:-}" != "1" ]; then
    echo "pytest: no tests matched (exit 5), not a failure"
    return 0
  fi
  return "$rc"
}

echo "== suite on PostgreSQL + Redis"
# shellcheck disable=SC2086 (PYTEST_ARGS is a list of words on purpose)
run_pytest "${NOSKIP[@]}" -n "${DC_TEST_WORKERS:-2}" --durations=30 ${PYTEST_ARGS:-}

echo "== the node agent's own suite (its own rootdir: no Django)"
(cd agent && run_pytest "${NOSKIP[@]}" -q -p no:cacheprovider -n "${DC_TEST_WORKERS:-2}")

echo "== smoke on the embedded default (SQLite, in-memory broker and channel layer)"
smoke_var=$(mktemp -d)
trap '$PY scripts/testenv.py down; rm -rf "$smoke_var"' EXIT
DATABASE_URL= REDIS_URL= DC_VAR_DIR="$smoke_var" $PY manage.py migrate --noinput >/dev/null
# shellcheck disable=SC2086
DATABASE_URL= REDIS_URL= DC_VAR_DIR="$smoke_var" run_pytest "${NOSKIP[@]}" -m smoke -p no:xdist ${PYTEST_ARGS:-}
