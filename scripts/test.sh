#!/usr/bin/env bash
# `make test`: set up PostgreSQL and Redis privately, lint, run the suite on PostgreSQL, then a
# smoke run on the embedded default (SQLite). Extra pytest arguments come from $PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"

$PY scripts/testenv.py packages
# The packaging phase (below) runs in the background: an early exit stops it first (SIGTERM,
# which its conftest turns into an interrupt so it tears down what it started).
pkg_pid=
stop_packaging() {
  if [ -n "$pkg_pid" ] && kill -0 "$pkg_pid" 2>/dev/null; then
    kill -TERM "$pkg_pid" 2>/dev/null || true
    wait "$pkg_pid" 2>/dev/null || true
  fi
}
pkg_log=
trap 'stop_packaging; rm -f "${pkg_log:-}"; $PY scripts/testenv.py down' EXIT
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

# The image test (tests/packaging) builds the Dockerfiles and runs docker-compose.yml on a lab
# host: minutes, mostly image builds and waiting on its own daemons, so it runs as its own
# phase beside everything below and is joined after the main suite. With PYTEST_ARGS (a
# narrowed run) it is left to the main suite, which then runs it only if the arguments pick it.
pkg_log=$(mktemp)
if [ -z "${PYTEST_ARGS:-}" ]; then
  echo "== packaging (image build, compose topology, a node through the proxy): in the background, log $pkg_log"
  pkg_started=$SECONDS
  $PY -m pytest "${NOSKIP[@]}" -p no:xdist -s -q --durations=0 tests/packaging >"$pkg_log" 2>&1 &
  pkg_pid=$!
  MAIN_IGNORE=(--ignore=tests/packaging)
else
  MAIN_IGNORE=()
fi

join_packaging() {
  [ -n "$pkg_pid" ] || return 0
  local rc=0
  wait "$pkg_pid" || rc=$?
  pkg_pid=
  echo "== packaging: finished after $((SECONDS - pkg_started)) s (exit $rc)"
  cat "$pkg_log"
  rm -f "$pkg_log"
  if [ "$rc" -ne 0 ]; then
    echo "make test: the packaging phase failed (log above)" >&2
  fi
  return "$rc"
}

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
main_rc=0
run_pytest "${NOSKIP[@]}" -n "${DC_TEST_WORKERS:-2}" --durations=30 "${MAIN_IGNORE[@]}" ${PYTEST_ARGS:-} || main_rc=$?
pkg_rc=0
join_packaging || pkg_rc=$?
if [ "$main_rc" -ne 0 ] || [ "$pkg_rc" -ne 0 ]; then
  exit 1
fi

echo "== the node agent's own suite (its own rootdir: no Django)"
(cd agent && run_pytest "${NOSKIP[@]}" -q -p no:cacheprovider -n "${DC_TEST_WORKERS:-2}")

echo "== smoke on the embedded default (SQLite, in-memory broker and channel layer)"
smoke_var=$(mktemp -d)
trap '$PY scripts/testenv.py down; rm -rf "$smoke_var"' EXIT
DATABASE_URL= REDIS_URL= DC_VAR_DIR="$smoke_var" $PY manage.py migrate --noinput >/dev/null
# shellcheck disable=SC2086
DATABASE_URL= REDIS_URL= DC_VAR_DIR="$smoke_var" run_pytest "${NOSKIP[@]}" -m smoke -p no:xdist ${PYTEST_ARGS:-}
