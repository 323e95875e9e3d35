# reviewsvc — make run (embedded default), make test, make lint, make bench, make faults, make cluster-test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench faults cluster-test venv venv-dev migrate clean-var

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

run: venv
	mkdir -p -m 700 var
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	HOST=$(HOST) PORT=$(PORT) bin/run-embedded

# The coverage gate (bin/coverage-gate: reviewsvc/ >= 95 %, apps/ >= 90 %, lines and branches each) is on
# when DATABASE_URL is PostgreSQL, where every test runs; on SQLite it prints the figures only.
COVERAGE_GATE ?= $(if $(filter postgres%,$(DATABASE_URL)),on,off)

test: venv-dev
	rm -f .coverage .coverage.*
	$(BIN)/python -m pytest --cov --cov-report= $(PYTEST_ARGS)
	COVERAGE_GATE=$(COVERAGE_GATE) $(BIN)/python bin/coverage-gate

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict --ignore-missing-imports reviewsvc
	$(BIN)/lint-imports

bench: venv-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Faults injected into a private PostgreSQL, Redis, gunicorn and worker; prints a table.
faults: venv-dev
	$(BIN)/python tools/faults.py

# Two gunicorn nodes behind nginx on shared PostgreSQL, Redis, S3 (SeaweedFS) and a SoftHSM2 token; prints a table.
cluster-test: venv-dev
	$(BIN)/python tools/cluster.py
