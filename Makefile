# kejin — 两条命令起步 / two commands to start: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_FIRMS ?= 5000
DEMO_SEED  ?= 20241
export KEJIN_DATABASE_URL ?= sqlite:///kejin.db

.PHONY: demo test bench lint venv install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files make installs re-run only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/kejin db upgrade
	$(BIN)/kejin synth --firms $(DEMO_FIRMS) --seed $(DEMO_SEED) --replace
	$(BIN)/kejin summary

test: install-test
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python -m bench

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) kejin.db kejin.db-wal kejin.db-shm .pytest_cache .ruff_cache .hypothesis
