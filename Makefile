# dockercloud: `make run` starts the product, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=
# Each worker's Celery node name: give a second worker on the same machine its own.
WORKER_NAME ?= celery@%h

.PHONY: run test worker beat lint fmt bench clean

# Two stamps: running the product needs only requirements.txt; the test, lint and bench targets
# add the development requirements (pytest, playwright, moto, ruff, mypy) on top.
$(VENV)/.runtime: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed (apt-get install python3 python3-venv)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(VENV): $(VENV)/.runtime

# The settings know the bind: off loopback, DEBUG is off and the host names come from
# DC_PUBLIC_URL (or DC_ALLOWED_HOSTS).
run: export DC_BIND_HOST = $(HOST)
run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

worker: $(VENV)/.runtime
	$(VENV)/bin/celery -A dockercloud worker --loglevel INFO --hostname '$(WORKER_NAME)'

beat: $(VENV)/.runtime
	$(VENV)/bin/celery -A dockercloud beat --loglevel INFO

test: $(VENV)/.dev
	PYTEST_ARGS="$(PYTEST_ARGS)" bash scripts/test.sh

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/lint_tenancy.py
	$(PY) scripts/lint_module_size.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Sets up the same private PostgreSQL and Redis as `make test`, runs the benchmarks in order (under
# 10 minutes; BENCH_ARGS=--full for the full sizes) and prints the summary of their figures.
bench: $(VENV)/.dev
	bash scripts/bench.sh $(BENCH_ARGS)

clean:
	rm -rf .testenv .pytest_cache .mypy_cache
