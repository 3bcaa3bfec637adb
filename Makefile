# The two commands of the README: `make up` (the whole stack, embedded defaults, demo data)
# and `make test` (the whole test suite). Both create the virtual environment when missing.
# `make test-fast` runs the unit tests only (no Ray, no live stack, no browser), for the edit loop.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: every test that starts a Ray head or a stack runs in one lane (tests/support/lanes.py),
# the browser tests in another, and the unit tests fill the workers beside them.
TEST_WORKERS ?= 3
FAST_WORKERS ?= 2

.PHONY: up test test-fast lint venv clean bench mmcls-venv lock lock-cpu venv-locked image ray-cluster

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Bytecode for the project's modules, written once: where PYTHONDONTWRITEBYTECODE is set (this machine and CI set
# it) every process would otherwise compile them from source again - each Ray job driver and trainer, manage.py,
# the stack's processes (~0.3 CPU-s each; the suite starts hundreds).
BYTECODE = $(BIN)/python -m compileall -q -j 0 backend frontend jobspecs workers tests manage.py >/dev/null

up: $(STAMP)
	@$(BYTECODE)
	$(BIN)/python manage.py up

test: $(STAMP)
	@# the browser tests (tests/e2e) drive Debian's Chromium through Playwright; no browser download
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "warning: could not install chromium; the browser tests will be skipped"
	$(BIN)/ruff check .
	@$(BYTECODE)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: $(STAMP)
	@$(BYTECODE)
	$(BIN)/python -m pytest -n $(FAST_WORKERS) -m "not integration and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/spine_latency.py

# MMClassification 0.25 (mmcv 1.7.2, no compiled ops) in a side venv, outside the project's dependencies:
# the reference that tests/fixtures/mmcls_pipeline/make_fixtures.py records and bench/data_pipeline.py
# compares against. torch comes from the same local wheel index as the project's venv (pip's config).
MMCLS_VENV := .mmcls-venv
mmcls-venv: $(MMCLS_VENV)/.ready

$(MMCLS_VENV)/.ready:
	@test -x $(MMCLS_VENV)/bin/python || $(PY) -m venv $(MMCLS_VENV)
	$(MMCLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MMCLS_VENV)/bin/python -m pip install --quiet 'setuptools<81' wheel numpy torch==2.14.1 torchvision==0.29.1
	MMCV_WITH_OPS=0 $(MMCLS_VENV)/bin/python -m pip install --quiet --no-build-isolation mmcv==1.7.2
	$(MMCLS_VENV)/bin/python -m pip install --quiet mmcls==0.25.0 opencv-python==4.10.0.84
	$(MMCLS_VENV)/bin/python -c "import cv2, mmcls, mmcls.datasets, mmcv; print('mmcls', mmcls.__version__, 'mmcv', mmcv.__version__)"
	@touch $@

# The pinned, hashed dependency locks (requirements/*.txt) from pyproject.toml: uv resolves, in a throwaway venv
# outside the project's dependencies. lock-cpu writes torch-cpu.txt from PyTorch's CPU index (where reachable).
LOCK_TOOL ?= /tmp/trainyard-lock-tool
UV_VERSION ?= 0.13.9
$(LOCK_TOOL)/bin/uv:
	$(PY) -m venv $(LOCK_TOOL)
	$(LOCK_TOOL)/bin/python -m pip install --quiet uv==$(UV_VERSION)

lock: $(LOCK_TOOL)/bin/uv
	$(PY) requirements/lock.py --uv $(LOCK_TOOL)/bin/uv

lock-cpu: $(LOCK_TOOL)/bin/uv
	$(PY) requirements/lock.py --uv $(LOCK_TOOL)/bin/uv --cpu

# The venv from the locks, as the image and the `ray up` nodes install it (every package hash-checked),
# then the project, and with DEV=1 (the default) the test tools; `make up` and `make test` use it as it is.
# A service host: `make venv-locked DEV=0`.
TORCH ?= cuda
DEV ?= 1
venv-locked:
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/build.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/torch-$(TORCH).txt
	DS_BUILD_OPS=0 $(BIN)/python -m pip install --quiet --require-hashes --no-deps --no-build-isolation \
		-r requirements/service.txt $(if $(filter 1,$(DEV)),-r requirements/dev.txt)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

# The one image (web, Celery, every Ray node) at one commit, tagged by it: built from the commit's tree
# (git archive), so uncommitted changes are never in it. Needs a container daemon (none runs on the CI machines).
COMMIT ?= $(shell git rev-parse HEAD)
image:
	@git diff --quiet HEAD || echo "note: uncommitted changes are not in the image; it is built from $(COMMIT)"
	git archive --format=tar $(COMMIT) | docker build -f infra/docker/Dockerfile --build-arg COMMIT=$(COMMIT) \
		--build-arg TORCH=$(TORCH) -t trainyard:$(COMMIT)-$(TORCH) -

# infra/ray/cluster.yaml rendered for one commit (default HEAD): `ray up var/ray/cluster.yaml`
ray-cluster:
	$(PY) infra/ray/render_cluster.py --commit $(COMMIT) --out var/ray/cluster.yaml

clean:
	rm -rf var .pytest_cache
