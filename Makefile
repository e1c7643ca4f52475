# LFG — the two commands a newcomer needs: `make run` and `make test`.
# Each sets itself up the first time: a .venv with Python >= 3.12 and the project installed.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

# Find Python >= 3.12, preferring 3.12: the embedded PostgreSQL (pgserver) ships wheels for
# CPython 3.12 only; on 3.13 LFG runs but needs DATABASE_URL. Tries python3.12, python3.13,
# python3, then pyenv's versions folder (3.12 first).
PYTHON ?= $(shell for c in python3.12 python3.13 python3; do \
	  p=$$(command -v $$c 2>/dev/null) && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; exit 0; }; \
	done; \
	root=$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv); \
	for p in $$(ls -d $$root/versions/3.12*/bin/python3 2>/dev/null | sort -rV) $$(ls -d $$root/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -V); do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; exit 0; }; \
	done)

.PHONY: run test lint bench loadtest web clean setup native

setup: $(VENV)/.installed $(VENV)/.native

$(VENV)/.installed: pyproject.toml setup.py
	@if [ -z "$(PYTHON)" ]; then echo "error: LFG needs Python 3.12 or newer (tried python3.12, python3.13, python3 and the pyenv versions folder). Install one, or run: make PYTHON=/path/to/python3.12 ..."; exit 1; fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# The compiled engine: Cython builds engine/{accounts,orders,book,markets,engine} from their
# .py sources and .pxd layouts, in place, whenever one of them changed. Without a working
# C compiler the engine runs interpreted (engine.native says which build runs).
NATIVE_SRC := $(foreach m,accounts orders book markets engine,engine/$(m).py engine/$(m).pxd)
native: $(VENV)/.installed  # an explicit `make native` always builds again
	@rm -f $(VENV)/.native
	@$(MAKE) --no-print-directory $(VENV)/.native
$(VENV)/.native: $(VENV)/.installed setup.py $(NATIVE_SRC)
	@$(PY) setup.py -q build_ext --inplace -j 2 >.native-build.log 2>&1 || true
	@$(PY) -c 'import engine; print("engine build:", engine.BUILD)'
	@$(PY) -c 'import engine, sys; sys.exit(not engine.COMPILED)' 2>/dev/null \
	  || echo "note: the engine did not compile (no C compiler? see .native-build.log); it runs interpreted, about 4x slower."
	@touch $@

# The web UI is built when Node is present; without it the server still runs.
web:
	@if [ -f web/package.json ] && command -v npm >/dev/null 2>&1; then \
	  cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build; \
	else echo "note: Node.js/npm not found; the API runs but the web UI is not built (install Node 20+ and run 'make web')."; fi

run: setup web
	$(BIN)/lfg serve --demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy engine server
	$(BIN)/bandit -q -r engine server -ll

# Branch coverage over the whole suite, subprocesses included (servers, shards, gateways).
test: setup lint web
	@if [ -f web/package.json ] && command -v npm >/dev/null 2>&1; then cd web && npm test; fi
	$(BIN)/coverage erase
	set -o pipefail; $(BIN)/coverage run -m pytest 2>&1 | tee .pytest-output
	@# The suite above ran the compiled engine (what ships); its lines are measured here,
	@# running the engine's tests once more on the same code interpreted.
	set -o pipefail; LFG_ENGINE=python $(BIN)/coverage run -m pytest -q tests/engine | tail -n 1
	$(BIN)/coverage combine -q
	$(BIN)/coverage report --fail-under=85
	$(BIN)/coverage report --include='engine/*' --fail-under=95 --format=total | sed 's/^/engine coverage: /'
	@tail -n 1 .pytest-output

bench: setup
	$(PY) -m engine.bench
	$(PY) -m loadtest.orders --peer

loadtest: setup
	$(PY) -m loadtest run all --short

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist build \
	  engine/*.so engine/*.c .native-build.log
