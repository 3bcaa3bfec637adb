# The two commands of the README: `make up` (the whole stack, embedded defaults, demo data)
# and `make test` (the whole test suite). Both create the virtual environment when missing.
# `make test-fast` runs the unit tests only (no Ray, no live stack, no browser), for the edit loop.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: the Ray tests mostly wait on their jobs, so more workers than cores; the tests that
# share a Ray head are one group each (tests/conftest.py), and the unit tests fill the other workers.
TEST_WORKERS ?= 4
FAST_WORKERS ?= 2

.PHONY: up test test-fast lint venv clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

up: $(STAMP)
	$(BIN)/python manage.py up

test: $(STAMP)
	@# the browser tests (tests/e2e) drive Debian's Chromium through Playwright; no browser download
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "warning: could not install chromium; the browser tests will be skipped"
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(FAST_WORKERS) -m "not integration and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/spine_latency.py

clean:
	rm -rf var .pytest_cache
