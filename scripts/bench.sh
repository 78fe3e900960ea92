#!/usr/bin/env bash
# `make bench`: the benchmarks in a fixed order on a private PostgreSQL and Redis (the same ones
# `make test` starts), stopped again at the end; then the summary of bench/results/latest.json
# (each figure, its ceiling measured in the same run, the ratio and the target).
#
#   scripts/bench.sh [--full] [PHASE ...]     PHASE: agents events fleet_api deploys (default all)
#
# The defaults keep the whole run under 10 minutes on a 2-core machine: fewer agents (3,000), a
# 10 s events window and fewer requests per page (30). `--full` (`make bench BENCH_ARGS=--full`)
# measures at the issue's sizes: 19,000 agents, the events benchmark's own window, 200 requests
# per page. BENCH_AGENTS_ARGS, BENCH_EVENTS_ARGS,
# BENCH_FLEET_API_ARGS and BENCH_DEPLOYS_ARGS replace one phase's arguments (see each file's
# --help). The deploys phase needs root and the node lab; without them it says so and records
# nothing, and the other phases still run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"

full=0
phases=()
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;;
    agents | events | fleet_api | deploys) phases+=("$arg") ;;
    *) echo "scripts/bench.sh: unknown argument '$arg' (--full, agents, events, fleet_api, deploys)" >&2; exit 2 ;;
  esac
done
[ ${#phases[@]} -gt 0 ] || phases=(agents events fleet_api deploys)

if [ "$full" = 1 ]; then
  default_agents="--agents 19000"
  default_events=""
  default_fleet="--sizes 10000 100000 --requests 200"
else
  default_agents="--agents 3000"
  default_events="--duration 10 --warmup 3"
  default_fleet="--sizes 10000 100000 --requests 30"
fi
phase_args() {
  case "$1" in
    agents) echo "${BENCH_AGENTS_ARGS-$default_agents}" ;;
    events) echo "${BENCH_EVENTS_ARGS-$default_events}" ;;
    fleet_api) echo "${BENCH_FLEET_API_ARGS-$default_fleet}" ;;
    deploys) echo "${BENCH_DEPLOYS_ARGS-}" ;;
  esac
}

clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

$PY scripts/testenv.py packages
trap '$PY scripts/testenv.py down' EXIT
env_lines=$($PY scripts/testenv.py up) || { echo "make bench: the private PostgreSQL and Redis did not start (above)" >&2; exit 1; }
eval "$env_lines"

since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start=$SECONDS
status=0
total=${#phases[@]}
n=0
for phase in "${phases[@]}"; do
  n=$((n + 1))
  file="bench/$phase.py"
  read -r -a args <<<"$(phase_args "$phase")"
  echo "== [$n/$total] $phase: $file${args[*]:+ ${args[*]}} (at $(clock $((SECONDS - start))))"
  if [ ! -f "$file" ]; then
    echo "== [$n/$total] $phase: $file is not in this checkout, skipped"
    continue
  fi
  began=$SECONDS
  phase_status=0
  $PY "$file" "${args[@]}" || phase_status=$?
  [ "$phase_status" = 0 ] || status=$phase_status
  echo "== [$n/$total] $phase: done in $((SECONDS - began)) s, exit $phase_status (at $(clock $((SECONDS - start))))"
done
echo "== all phases in $(clock $((SECONDS - start))) (budget 10:00)"
$PY bench/summary.py --since "$since" || status=$?
exit "$status"
