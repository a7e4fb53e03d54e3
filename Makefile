# Connective — the front door. `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes for `make test` (pytest-xdist); each test file stays on one process, so an
# end-to-end module's running stack is never split. 0 runs everything in this process.
TEST_WORKERS ?= 2

# make token USER=alice ROLE=teacher COHORTS=c1
ROLE ?= learner
COHORTS ?=
JWT_SECRET ?= connective-development-secret-change-me

.PHONY: help install ferretdb run demo test test-faults test-unit test-integration test-e2e bench lint format token compose-check clean

help: ## List the targets
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev,local]'
	@touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install Connective with its pinned dependencies

ferretdb: ## Build FerretDB 1.24.2 (SQLite backend) into .cache/bin (needs Go)
	bash tools/ferretdb/install.sh

run: $(STAMP) ## Run everything locally: Redis, FerretDB, three APIs (gunicorn) and three workers
	@command -v go >/dev/null && bash tools/ferretdb/install.sh || echo "make run: Go is missing; falling back to the in-process store"
	$(PYTHON) -m devstack run

test: $(STAMP) ## Run the whole test suite (unit, integration with FerretDB + Redis, end-to-end processes)
	@command -v go >/dev/null && bash tools/ferretdb/install.sh || true
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-faults: $(STAMP) ## Run the fault runs (killed workers, restarted Redis and FerretDB, absent APIs under load)
	@command -v go >/dev/null && bash tools/ferretdb/install.sh || true
	$(PYTHON) -m pytest tests/e2e/test_faults.py -m faults -s $(PYTEST_ARGS)

test-unit: $(STAMP) ## Run the fast tests only
	$(PYTHON) -m pytest tests/unit -m "not integration" $(PYTEST_ARGS)

test-integration: $(STAMP) ## Run the integration tests (real Redis and FerretDB, or MONGO_URL)
	$(PYTHON) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: $(STAMP) ## Run the end-to-end tests (services as real processes)
	$(PYTHON) -m pytest tests/e2e $(PYTEST_ARGS)

bench: $(STAMP) ## Run the benchmarks: figures against a bare baseline measured in the same run, then each endpoint under load
	$(PYTHON) -m bench.allocation
	$(PYTHON) -m bench.boards
	$(PYTHON) -m bench.events
	$(PYTHON) -m bench.load

lint: $(STAMP) ## Check style, types and the import contracts (ruff, mypy, import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(STAMP) ## Format the code and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: $(STAMP) ## Seed a demo class (30 learners, 3 challenges) into the running stack, then print the boards
	@JWT_SECRET='$(JWT_SECRET)' $(PYTHON) -m devstack.demo

token: $(STAMP) ## Print a development token: make token USER=alice ROLE=teacher COHORTS=c1
	@JWT_SECRET='$(JWT_SECRET)' $(PYTHON) -m shared.cli token --user '$(USER)' --role '$(ROLE)' --cohorts '$(COHORTS)'

compose-check: $(STAMP) ## Validate docker-compose.yml against the Compose Specification (offline)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

clean: ## Remove caches and local run data (keeps the virtualenv)
	rm -rf .cache/run .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
