# Two commands do all set-up on a fresh machine:
#   make demo   — create .venv, install, run the main job on embedded defaults
#   make test   — create .venv, install, run the fast test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= results

.PHONY: demo test test-all lint bench docs docs-fast wheel-check clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

$(BIN)/.docs: $(BIN)/.installed
	$(BIN)/pip install -q -e ".[dev,docs,release]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/poissongrad guide --scale quick --out $(OUT)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

test-all: $(BIN)/.installed
	$(BIN)/python -m pytest -m ""

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks examples docs

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/samplers.py

# The site, warnings as errors; the tutorials run during the build.
docs: $(BIN)/.docs
	rm -rf docs/_build docs/api/generated
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# The same without running the tutorials (a quick check of everything else).
docs-fast: $(BIN)/.docs
	rm -rf docs/_build docs/api/generated
	POISSONGRAD_DOCS_FAST=1 $(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# Build the wheel and sdist, check their metadata, install the wheel into a fresh environment
# and run the quick start from outside the source tree.
wheel-check: $(BIN)/.docs
	bash .ci/wheel_check

clean:
	rm -rf $(VENV) $(OUT) docs/_build docs/api/generated docs/auto_tutorials dist
