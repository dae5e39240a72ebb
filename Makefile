# One task runner for nbgov. `make example` and `make test` are the README's two commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PLOOMBER_STATS_ENABLED := false
export PLOOMBER_VERSION_CHECK_DISABLED := true

.PHONY: setup example test test-py test-js test-browser labextension lint bench faults mutate clean

# The JupyterLab extension: jlpm and jupyter-builder come from the venv, the browser is Debian's
# chromium (.ci/run installs it), never a Playwright download.
EXT := extensions/jupyterlab-nbgov
UI := $(EXT)/ui-tests
JLPM := PATH="$(abspath $(BIN)):$$PATH" jlpm
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

$(BIN)/nbgov: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/nbgov

setup: $(BIN)/nbgov  ## create .venv and install nbgov with its dev tools

example: setup  ## run the example ML pipeline end to end (embedded MLflow in ./mlflow.db)
	$(BIN)/nbgov build

test: setup test-py test-js test-browser  ## the whole test suite

test-py:
	$(BIN)/python -m pytest -p no:cacheprovider

$(EXT)/node_modules/.nbgov-installed: $(EXT)/package.json $(EXT)/yarn.lock
	cd $(EXT) && $(JLPM) install
	touch $@

$(UI)/node_modules/.nbgov-installed: $(UI)/package.json $(UI)/yarn.lock
	cd $(UI) && $(JLPM) install
	touch $@

labextension: setup $(EXT)/node_modules/.nbgov-installed  ## rebuild the JupyterLab extension into the venv
	cd $(EXT) && $(JLPM) build
	$(BIN)/python -m pip install --quiet --no-deps -e .

test-js: setup $(EXT)/node_modules/.nbgov-installed  ## frontend unit tests (jest)
	cd $(EXT) && $(JLPM) test

# Two passes over the same specs: a fresh project (never built: no lineage yet), then the same
# project built by `nbgov build` before the server starts (NBGOV_UI_BUILD=1: up-to-date states,
# run metrics, the lineage tree). Both always run: the spec's branches for each state are real.
test-browser: labextension $(UI)/node_modules/.nbgov-installed  ## JupyterLab + nbgov in headless Chromium (galata)
	cd $(UI) && NBGOV_UI_BUILD= $(JLPM) playwright test || { tail -n 60 jupyter-server.log; exit 1; }
	cd $(UI) && NBGOV_UI_BUILD=1 $(JLPM) playwright test || { tail -n 60 jupyter-server.log; exit 1; }

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

# Mutation testing of the modules that guard something, one module at a time against its own
# unit tests (tests/mutate.py, docs/development/mutation.md). Slow (minutes per module on 2
# cores), so not part of `make test`. `make mutate MUTATE=paths` runs one target.
MUTATE ?=
mutate: setup  ## mutation testing (mutmut) of ledger, identity, freshness, review, redaction, paths, promotion
	$(BIN)/python tests/mutate.py $(MUTATE)

bench: setup  ## all benchmarks; prints a table, writes benchmarks/results/latest.json
	$(BIN)/python -m benchmarks

faults: setup  ## the long fault campaign: seeded kills of build, server and sync (NBGOV_FAULT_TRIALS=100)
	NBGOV_FAULT_TRIALS=$${NBGOV_FAULT_TRIALS:-100} $(BIN)/python -m pytest -p no:cacheprovider -s -q \
		tests/faults/test_faults_campaign.py

clean:
	rm -rf products mlflow.db mlruns
