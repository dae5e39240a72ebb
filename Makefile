# One task runner for nbgov. `make example` and `make test` are the README's two commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PLOOMBER_STATS_ENABLED := false
export PLOOMBER_VERSION_CHECK_DISABLED := true

.PHONY: properties setup example test test-py test-js test-browser browser galata screenshots labextension \
	docs docs-serve lint bench faults mutate clean test-start-wheel

# The JupyterLab extension: jlpm and jupyter-builder come from the venv, the browser is Debian's
# chromium (`make browser` installs it), never a Playwright download (its host is unreachable).
EXT := extensions/jupyterlab-nbgov
UI := $(EXT)/ui-tests
JLPM := PATH="$(abspath $(BIN)):$$PATH" jlpm
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
# the Chromium the browser tests drive (ui-tests/playwright.config.js reads CHROMIUM_PATH)
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM_PATH := $(CHROMIUM)

$(BIN)/nbgov: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,example]"
	touch $(BIN)/nbgov

setup: $(BIN)/nbgov  ## create .venv and install nbgov with its dev tools

example: setup  ## run the example ML pipeline end to end (embedded MLflow in ./mlflow.db)
	$(BIN)/nbgov build

test: setup test-py test-js test-browser  ## the whole test suite

# two processes: most tests wait on a kernel, a server or git, so two share the 2 cores well;
# a module's tests stay on one process (their module-scoped servers and projects are built once)
TEST_WORKERS ?= 2
test-py:
	$(BIN)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=30

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

# `make test` provides the browser itself, as .ci/run does: as root, Debian's chromium is
# installed with apt-get. Without root it says what to run and skips the browser tests only
# (exit 0: a missing tool is not a red suite), unless NBGOV_NO_SKIPS is set (CI): then it fails.
test-browser:  ## JupyterLab + nbgov in headless Chromium (galata); provides Chromium first
	@$(MAKE) --no-print-directory browser BROWSER_OPTIONAL=1 || exit 1; \
	if [ -x "$(CHROMIUM)" ]; then \
	  $(MAKE) --no-print-directory galata; \
	elif [ -n "$$NBGOV_NO_SKIPS" ]; then \
	  echo "make: NBGOV_NO_SKIPS is set, so the browser tests may not be skipped: failing"; exit 1; \
	else \
	  echo "make: SKIPPED the browser tests (galata) only: no Chromium at $(CHROMIUM) (see above)"; \
	fi

# Chromium at $(CHROMIUM), installed now if need be; fails when it cannot be (BROWSER_OPTIONAL=1:
# says what to run and succeeds, for test-browser to skip)
browser:  ## Debian's chromium for the browser tests (apt-get, as root)
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: no browser at $(CHROMIUM): installing Debian's chromium (apt-get, about 30 s)"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq \
	    && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null \
	    || { echo "make: apt-get install chromium failed (see above)"; exit 1; }; \
	  [ -x "$(CHROMIUM)" ] || { echo "make: chromium installed, yet $(CHROMIUM) is missing: run make CHROMIUM=/path/to/chromium"; exit 1; }; \
	else \
	  echo "make: no browser at $(CHROMIUM), and installing one needs root. Run:"; \
	  echo "    sudo apt-get install -y chromium && make test-browser"; \
	  echo "  (or: make test-browser CHROMIUM=/path/to/your/chromium)"; \
	  exit $(if $(BROWSER_OPTIONAL),0,1); \
	fi

# JupyterLab listens on a free port (NBGOV_UI_PORT to choose): two runs on one machine must not
# meet on a fixed port, where one run's tests would talk to the other's server
FREE_PORT = $(abspath $(BIN))/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'

# Two passes over the same specs: a fresh project (never built: no lineage yet), then the same
# project built by `nbgov build` before the server starts (NBGOV_UI_BUILD=1: up-to-date states,
# run metrics, the lineage tree). Both always run: the spec's branches for each state are real.
# A third pass (NBGOV_UI_BUILD=offline, its own spec) builds while the tracking server is down:
# the panel shows the runs kept locally until `nbgov sync`.
galata: labextension $(UI)/node_modules/.nbgov-installed  ## the browser tests, Chromium assumed present
	cd $(UI) && NBGOV_UI_BUILD= NBGOV_UI_PORT=$${NBGOV_UI_PORT:-$$($(FREE_PORT))} \
	  $(JLPM) playwright test || { tail -n 60 jupyter-server.log; exit 1; }
	cd $(UI) && NBGOV_UI_BUILD=1 NBGOV_UI_PORT=$${NBGOV_UI_PORT:-$$($(FREE_PORT))} \
	  $(JLPM) playwright test || { tail -n 60 jupyter-server.log; exit 1; }
	cd $(UI) && NBGOV_UI_BUILD=offline NBGOV_UI_PORT=$${NBGOV_UI_PORT:-$$($(FREE_PORT))} \
	  $(JLPM) playwright test || { tail -n 60 jupyter-server.log; exit 1; }

# The extension's screenshots in the docs come from the galata specs: this run builds the
# fixture project first (real build states and metrics) and rewrites docs/assets/screenshots/
# (the built pass's specs: review round, workbench, threads, and the Models view with a refused
# promotion: models-light/-dark); the offline pass takes the picture of runs not yet synced.
screenshots: browser labextension $(UI)/node_modules/.nbgov-installed  ## refresh the docs' JupyterLab screenshots
	cd $(UI) && NBGOV_UI_BUILD=1 NBGOV_SCREENSHOT_DIR="$(abspath docs/assets/screenshots)" \
	  NBGOV_UI_PORT=$${NBGOV_UI_PORT:-$$($(FREE_PORT))} \
	  $(JLPM) playwright test || { tail -n 60 jupyter-server.log; exit 1; }
	cd $(UI) && NBGOV_UI_BUILD=offline NBGOV_SCREENSHOT_DIR="$(abspath docs/assets/screenshots)" \
	  NBGOV_UI_PORT=$${NBGOV_UI_PORT:-$$($(FREE_PORT))} \
	  $(JLPM) playwright test || { tail -n 60 jupyter-server.log; exit 1; }

# The documentation site (MkDocs + Material): site/ (ignored); the CLI reference and the check
# rules are generated from the code at each build, so they cannot drift.
docs: setup  ## build the documentation site into site/ (open site/index.html)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: setup  ## the documentation site on http://127.0.0.1:8000, rebuilt on save
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

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

faults: setup  ## the long fault campaign (kills, lost replies, PID 1, other hostname, full disk) and the journal's stateful test, many examples
	NBGOV_FAULT_TRIALS=$${NBGOV_FAULT_TRIALS:-100} NBGOV_FULL_DISK_TRIALS=$${NBGOV_FULL_DISK_TRIALS:-20} \
	NBGOV_STATEFUL_EXAMPLES=$${NBGOV_STATEFUL_EXAMPLES:-1000} NBGOV_STATEFUL_STEPS=$${NBGOV_STATEFUL_STEPS:-30} \
		$(BIN)/python -m pytest -p no:cacheprovider -s -q \
		tests/faults/test_faults_campaign.py tests/faults/test_journal_states.py

properties: setup  ## the ledger and trust invariants under hypothesis, long (NBGOV_HYPOTHESIS_EXAMPLES=2000)
	NBGOV_HYPOTHESIS_EXAMPLES=$${NBGOV_HYPOTHESIS_EXAMPLES:-2000} $(BIN)/python -m pytest -p no:cacheprovider -q \
		tests/review/test_ledger_invariants.py tests/security/test_trust_properties.py \
		tests/models/test_promote_origin_rules.py tests/core/test_redact_properties.py

clean:
	rm -rf products mlflow.db mlruns site

# docs/start.md run against a fresh venv holding only the built wheel (as a `pip install nbgov`
# user has it); the normal suite runs the same test on the development venv. Slow (a full install).
START_VENV ?= /tmp/nbgov-start-venv
test-start-wheel: setup  ## docs/start.md as a test, against a fresh venv with only the wheel
	rm -rf dist/start && PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pip wheel --no-deps -w dist/start .
	rm -rf $(START_VENV) && $(PY) -m venv $(START_VENV)
	$(START_VENV)/bin/python -m pip install --quiet dist/start/nbgov-*.whl
	NBGOV_START_BIN=$(abspath $(START_VENV))/bin $(BIN)/python -m pytest -p no:cacheprovider -q tests/docs/test_start_page.py
