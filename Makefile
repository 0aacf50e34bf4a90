# Two set-up commands (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

E2E := examples/demo/e2e
E2E_STAMP := $(E2E)/node_modules/.package-lock.json

.PHONY: demo test lint unit venv clean bench reliability container-test e2e-deps

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

demo: $(STAMP)
	@command -v npm >/dev/null && $(MAKE) --no-print-directory e2e-deps || echo "npm not found: the demo's e2e suite will report what is missing"
	cd examples/demo && ../../$(VENV)/bin/qaagent run-all --profile .qaagent.yaml --parallel --max-workers 3

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/lint-actions.py
	$(VENV)/bin/shellcheck .ci/run scripts/*.sh

unit: $(STAMP) $(E2E_STAMP)
	$(VENV)/bin/pytest -q

test: lint unit

bench: $(STAMP) $(E2E_STAMP)  ## the figures of docs/benchmarks.md (several minutes)
	$(PY) benchmarks/reporting.py
	$(PY) benchmarks/makespan.py
	$(PY) benchmarks/html_report.py
	$(PY) benchmarks/formats.py

reliability: $(STAMP)  ## regenerate docs/reliability.md from real runs
	$(PY) scripts/reliability.py

container-test:
	bash scripts/container-test.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
