# The interface for people and CI. Everything runs inside ./.venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install dev demo serve test lint docs bench clean

$(BIN)/virtuna:
	$(PY) -m venv $(VENV) && $(BIN)/pip install -q -e .

install: $(BIN)/virtuna

dev:
	$(PY) -m venv $(VENV) && $(BIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/virtuna analyze "POV: you finally tried the viral 3-ingredient pasta 🍝 wait for the end #cooking #pasta #fyp"

serve: install
	$(BIN)/virtuna serve

test: dev
	bash scripts/check.sh

lint: dev
	bash -c '$(BIN)/ruff check src tests bench && $(BIN)/ruff format --check src tests bench && $(BIN)/mypy src tests bench && $(BIN)/lint-imports'

docs: dev
	$(BIN)/python -m virtuna.docs_gen > docs/CLI.md

bench: dev
	$(BIN)/python bench/engine.py && $(BIN)/python bench/ml.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
