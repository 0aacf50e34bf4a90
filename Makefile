# Two set-up commands (see README): `make demo` and `make test`; `make quick` while editing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

E2E := examples/demo/e2e
E2E_STAMP := $(E2E)/node_modules/.package-lock.json
# jest, jest-junit and vitest for the tests that run them (tests/test_init.py)
NODE_RUNNERS := tests/fixtures/node-runners
NODE_RUNNERS_STAMP := $(NODE_RUNNERS)/node_modules/.package-lock.json

.PHONY: demo test quick lint unit venv clean bench bench-run-all bench-split reliability container-test package-test e2e-deps node-deps lock

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e . -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# The demo's Playwright project (and the test fixtures that share its node_modules).
$(E2E_STAMP): $(E2E)/package.json $(E2E)/package-lock.json
	cd $(E2E) && npm ci --no-audit --no-fund --loglevel=error

e2e-deps: $(E2E_STAMP)

$(NODE_RUNNERS_STAMP): $(NODE_RUNNERS)/package.json $(NODE_RUNNERS)/package-lock.json
	cd $(NODE_RUNNERS) && npm ci --no-audit --no-fund --loglevel=error

node-deps: $(NODE_RUNNERS_STAMP)

demo: $(STAMP)
	@command -v npm >/dev/null && $(MAKE) --no-print-directory e2e-deps || echo "npm not found: the demo's e2e suite will report what is missing"
	cd examples/demo && ../../$(VENV)/bin/qaagent run-all --profile .qaagent.yaml --parallel --max-workers 3

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/lint-actions.py
	$(VENV)/bin/shellcheck .ci/run scripts/*.sh host/*.sh

# The whole suite, in three test processes on two cores: about a quarter of the test time is
# spent waiting (timeouts, cancellations, a hung API), which a third process fills (10:54 with
# two processes, 8:43 with three, docs/decisions.md). A test file stays in one process
# (--dist loadfile), so the tests that share a fixed port (the demo's app) never run at once.
# The tests' qaagent processes are forked from a warm zygote per test process (tests/zygote.py);
# `QAAGENT_TEST_COLD=1 make unit` starts them all cold.
unit: $(STAMP) $(E2E_STAMP) $(NODE_RUNNERS_STAMP)
	$(VENV)/bin/pytest -q -n 3 --dist loadfile

test: lint unit

# The fast tests for the edit-test loop (under a minute on an idle machine): no test marked slow
# (real runs of qaagent, browsers, PostgreSQL, timeouts, property tests of hundreds of examples),
# in two test processes as `make unit` runs them. `make test` stays the full gate.
quick: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow" -n 2 --dist loadfile

bench: $(STAMP) $(E2E_STAMP) bench-run-all bench-split  ## the figures of docs/benchmarks.md (about an hour)
	$(PY) benchmarks/reporting.py
	$(PY) benchmarks/makespan.py
	$(PY) benchmarks/html_report.py
	$(PY) benchmarks/history.py
	$(PY) benchmarks/formats.py

# Issue 13: the whole run-all process on 100k/400k cases (about 25 minutes). PEER=a checkout of
# EnricoMi/publish-unit-test-result-action adds its pipeline; needs GNU time (apt-get install time).
bench-run-all: $(STAMP)
	$(PY) benchmarks/run_all.py --profile $(if $(PEER),--peer $(PEER))

# Issue 15: one suite split over 2 workers (about 25 minutes). PROJECT=a checkout of a pytest
# project adds the real-project check (PROJECT_DEPS: its tests' extra requirements).
bench-split: $(STAMP)
	$(PY) benchmarks/split.py $(if $(PROJECT),--project $(PROJECT) --project-deps "$(PROJECT_DEPS)")
	$(PY) benchmarks/batch_rule.py

reliability: $(STAMP)  ## regenerate docs/reliability.md from real runs
	$(PY) scripts/reliability.py

container-test:
	bash scripts/container-test.sh

# `pip install .` and the built wheel, each in a fresh venv, each smoke-tested (about a minute).
package-test:
	PYTHON=$(PYTHON) bash scripts/package-test.sh

# requirements.txt from requirements.in: exact versions and the hash of every published file
# (one lock for the image's linux/amd64 and linux/arm64 and the host variant's runners).
# pip-compile keeps the versions already locked; `make lock UPGRADE=--upgrade` moves them all.
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make lock   (what is locked and why: requirements.in)" \
	  $(VENV)/bin/pip-compile --quiet --allow-unsafe --generate-hashes --strip-extras $(UPGRADE) \
	  --output-file=requirements.txt requirements.in
	CUSTOM_COMPILE_COMMAND="make lock   (what is locked and why: requirements-postgres.in)" \
	  $(VENV)/bin/pip-compile --quiet --allow-unsafe --generate-hashes --strip-extras $(UPGRADE) \
	  --no-emit-index-url --no-emit-find-links \
	  --output-file=requirements-postgres.txt requirements-postgres.in

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
