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
DEV_TOOLS := pytest pytest-asyncio hypothesis ruff mypy

.PHONY: install dev test lint bench contracts clean

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

# pytest exits 5 when it collects nothing; that must fail, and it does (any non-zero exit).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf .data $(VENV)
