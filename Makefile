# Two set-up commands: `make dev` runs the platform on the embedded stack, `make test` runs the tests.
# Both create .venv and install exactly uv.lock (every lib and service editable, the dev group's tools and
# libs/dev: the embedded PostgreSQL and broker, `playbooks dev`) on a fresh machine. `make lock` refreshes
# uv.lock after a pyproject change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LIBS     := libs/contracts libs/platform libs/dev
SERVICES := $(wildcard services/*)
# uv (from PyPI) lives in a virtualenv of its own: `uv sync` makes .venv exactly the lock, so it must not
# sit inside the environment it prunes.
UV_VENV := .venv-uv
UV      := $(UV_VENV)/bin/uv
UV_PIN  := uv==0.13.9
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# checkov (tests/deploy/test_static_checks.py) lives in a virtualenv of its own: its many pins clash with ours.
CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov
CHECKOV_PIN  := checkov==3.3.30

.PHONY: install lock dev test test-fast lint bench soak faults contracts compose-secrets clean

$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install -q "$(UV_PIN)"

# --locked: fail, instead of resolving anew, when a pyproject changed and uv.lock was not refreshed.
$(STAMP): $(UV) uv.lock pyproject.toml $(addsuffix /pyproject.toml,$(LIBS) $(SERVICES)) Makefile
	$(UV) sync --locked --all-packages --python $(PYTHON) --quiet
	touch $@

lock: $(UV)
	$(UV) lock

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

# mypy finds the libs and services through MYPYPATH (each is its own folder of packages); the
# recommendation-agent library's scripts (library/*/main.py) are data, not packages, and stay out.
MYPY_PACKAGES := playbooks_contracts playbooks_platform playbooks_dev $(subst -,_,$(notdir $(SERVICES)))
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPYPATH=$(subst $(eval) ,:,$(abspath $(LIBS) $(SERVICES))) $(BIN)/mypy $(addprefix -p ,$(MYPY_PACKAGES))

# Every benchmark (BENCHES="ingest compiler" for some), a progress bar at a terminal.
# BENCH_JSON_DIR=dir: each bench also writes its figures to dir/<bench>.json (see playbooks_platform.figures).
bench: $(STAMP)
	BENCH_JSON_DIR=$(BENCH_JSON_DIR) $(BIN)/python bench/run.py $(BENCHES)

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
	rm -rf .data $(VENV) $(UV_VENV) $(CHECKOV_VENV)
