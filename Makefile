# The two commands of the README:  make demo  |  make test
# Both create or refresh .venv themselves (re-installing when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:12])")
DEMO_DIR ?= .demo-project

.PHONY: setup demo test test-fast lint bench clean

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The local CPU build of torch; elsewhere install the torch you want first.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/acotd demo $(DEMO_DIR)

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(VENV)/bin/ruff check acotd_tui store screens tests bench

bench: setup
	$(PY) bench/import.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) build dist *.egg-info
