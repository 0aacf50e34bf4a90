# Two set-up commands (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit venv clean bench container-test e2e-deps

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e . -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	cd examples/demo && ../../$(VENV)/bin/qaagent run-all --profile .qaagent.yaml --parallel --max-workers 3

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/lint-actions.py

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint unit

bench: $(STAMP)
	$(PY) benchmarks/run.py

container-test:
	bash scripts/container-test.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
