# Two commands do all set-up on a fresh machine:
#   make demo   — create .venv, install, run the main job on embedded defaults
#   make test   — create .venv, install, run the fast test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= results

.PHONY: demo test test-all lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/poissongrad guide --scale quick --out $(OUT)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

test-all: $(BIN)/.installed
	$(BIN)/python -m pytest -m ""

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks examples

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/samplers.py

clean:
	rm -rf $(VENV) $(OUT)
