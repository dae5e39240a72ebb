# One task runner for nbgov. `make example` and `make test` are the README's two commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PLOOMBER_STATS_ENABLED := false
export PLOOMBER_VERSION_CHECK_DISABLED := true

.PHONY: setup example test test-py lint bench clean

$(BIN)/nbgov: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/nbgov

setup: $(BIN)/nbgov  ## create .venv and install nbgov with its dev tools

example: setup  ## run the example ML pipeline end to end (embedded MLflow in ./mlflow.db)
	$(BIN)/nbgov build

test: setup test-py  ## the whole test suite

test-py:
	$(BIN)/python -m pytest -p no:cacheprovider

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

bench: setup  ## all benchmarks; prints a table, writes benchmarks/results/latest.json
	$(BIN)/python -m benchmarks

clean:
	rm -rf products mlflow.db mlruns
